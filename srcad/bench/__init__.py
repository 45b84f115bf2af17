"""The harness behind `srcad bench`, one concern per module:

    cli        the `srcad bench` options and the run: collect, time, report, exit status
    workloads  finding and loading workload files (bench/workloads/ protocol) and user functions
    runner     one workload -> a row per size: primal, hand adjoint, srcad and peer cells
    timing     timing one callable (median of samples, first call apart, peak memory); threads
    peers      peer cells (JAX, autograd, torch) in a child process with time and memory limits
    verify     a gradient against the hand adjoint or finite differences (srcad.check)
    report     tables, Markdown, notes, JSON, what counts as a failure
    machine    the machine and versions the figures were measured on
    plot       the bar chart of `--plot`
"""
