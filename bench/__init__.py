"""srcad's benchmark suite: workload files under `bench/workloads/`, run by `srcad bench`."""
