"""Structured parameters: tuples, lists and dicts (nested) of arrays and floats, flattened into
a parameter per leaf of the generated gradient (structured.py), in every mode, against central
finite differences."""

import warnings

import numpy as np
import pytest

import srcad
from srcad.compiler import pytrees
from tests.structured_helpers import (assert_tree_close, check_grad, compiled, mode,  # noqa: F401
                                      numeric_grad, options)


def mlp_loss(params, x, y):
    h = np.tanh(x @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return np.mean((out - y) ** 2)


def mlp_params(rng):
    return {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
            "W2": rng.standard_normal(4), "b2": float(rng.standard_normal())}


@pytest.mark.parametrize("seed", [0, 1])
def test_dict_of_parameters(mode, seed):
    rng = np.random.default_rng(seed)
    args = (mlp_params(rng), rng.standard_normal((5, 3)), rng.standard_normal(5))
    g = check_grad(mlp_loss, args, mode=mode)
    assert list(g) == ["W1", "b1", "W2", "b2"] and isinstance(g["b2"], float)


def test_a_0d_array_leaf_has_a_0d_array_gradient(mode, rng):
    """(found by an attack: its gradient was a NumPy float in source mode, an array on the
    tape and for a 0-d argument)"""
    params = mlp_params(rng)
    params["b2"] = np.array(float(rng.standard_normal()))
    args = (params, rng.standard_normal((5, 3)), rng.standard_normal(5))
    g = check_grad(mlp_loss, args, mode=mode)
    assert type(g["b2"]) is np.ndarray and g["b2"].shape == () and g["b2"].dtype == np.float64


def layers_loss(layers, x):
    for i, (W, b) in enumerate(layers[:-1]):
        x = np.tanh(x @ W + b) * (i + 1)
    W, b = layers[-1]  # a vector and a float: another type than the hidden layers'
    return np.sum((x @ W + b) ** 2) / len(layers)


def make_layers(rng, sizes):
    layers = [(rng.standard_normal((m, n)), rng.standard_normal(n))
              for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
    return layers + [(rng.standard_normal(sizes[-1]), 0.3)]


def test_list_of_layers_loop_unrolled(mode, rng):
    layers = make_layers(rng, [3, 4, 2])
    g = check_grad(layers_loss, (layers, rng.standard_normal((2, 3))), mode=mode)
    assert isinstance(g, list) and all(isinstance(layer, tuple) for layer in g)


def heads_by_key(params, x):
    total = 0.0
    for k in ("a", "b"):
        total += np.sum(np.tanh(x * params["heads"][k])) * len(k)
    return total + params["scale"] * len(k)


def test_a_loop_over_keys_written_in_it_is_unrolled(mode, rng):
    # (found by an attack: "a key computed at run time" for keys written in the loop)
    params = {"heads": {"a": rng.standard_normal(3), "b": rng.standard_normal(3)},
              "scale": 0.7}
    g = check_grad(heads_by_key, (params, rng.standard_normal(3)), mode=mode)
    assert list(g["heads"]) == ["a", "b"]


def test_structure_change_specialises_again(mode, rng):
    g = srcad.grad(layers_loss, **options(mode))
    g = compiled(g) if mode[0] == "auto" else g
    x = rng.standard_normal((2, 3))
    for sizes in ([3, 4], [3, 4, 5, 2], [3, 2]):
        layers = make_layers(rng, sizes)
        assert_tree_close(g(layers, x), numeric_grad(layers_loss, (layers, x), 0))


def nested(p, x):
    W, b = p["enc"]
    h = np.sin(x @ W + b)
    dec = p["dec"]
    return np.sum(h * dec["w"]) * dec["scale"] + p["enc"][1][0] ** 2


def test_nested_dict_of_tuples(mode, rng):
    p = {"enc": (rng.standard_normal((3, 2)), rng.standard_normal(2)),
         "dec": {"w": rng.standard_normal(2), "scale": 0.7}}
    check_grad(nested, (p, rng.standard_normal(3)), mode=mode)


def with_empty(p, e, x):
    return np.sum(x * p[0]) + p[1] * len(e)


def test_empty_structures(mode, rng):
    args = ([rng.standard_normal(3), 2.0], {}, rng.standard_normal(3))
    gp, ge = srcad.grad(with_empty, wrt=(0, 1), **options(mode))(*args)
    assert ge == {}
    assert_tree_close(gp, numeric_grad(with_empty, args, 0))
    assert srcad.grad(with_empty, wrt="e", **options(mode))(*args) == {}
    assert srcad.grad(with_empty, wrt=1, **options(mode))([np.ones(3), 1.0], (), np.ones(3)) \
        == ()


def non_string_keys(p, x):
    return np.sum(p[1] * x) + p[2, "b"] ** 2 * p[-0.5] + np.sum(p[True] ** 3)


def test_keys_that_are_not_strings(mode, rng):
    # (True == 1: Python's dict has one key for both, and so does srcad)
    p = {1: rng.standard_normal(3), (2, "b"): 1.5, -0.5: 2.0}
    g = check_grad(non_string_keys, (p, rng.standard_normal(3)), mode=mode)
    assert list(g) == [1, (2, "b"), -0.5]


def shared(p, x):
    return np.sum(p["a"] * x) + np.sum(p["b"] ** 2)


def test_same_array_twice_in_the_structure(mode, rng):
    w = rng.standard_normal(3)
    x = rng.standard_normal(3)
    g = check_grad(shared, ({"a": w, "b": w}, x), mode=mode)
    np.testing.assert_allclose(g["a"], x)
    np.testing.assert_allclose(g["b"], 2 * w)


def config_and_params(params, cfg, x):
    h = x[:cfg["n"]] * params[0]
    for _ in range(cfg["steps"]):
        h = h * cfg["decay"]
    return np.sum(h ** 2) + params[1]


def test_int_leaves_pass_through_non_wrt_structures(mode, rng):
    args = ((rng.standard_normal(2), 0.5), {"n": 2, "steps": 3, "decay": 0.9},
            rng.standard_normal(4))
    check_grad(config_and_params, args, wrt="params", mode=mode)


def test_int_leaf_in_a_differentiated_structure_is_refused(mode):
    with pytest.raises(TypeError, match=r"params\[1\]'.*int"):
        srcad.grad(config_and_params, **options(mode))((np.ones(2), 1), {"n": 2, "steps": 1,
                                                                         "decay": 0.5},
                                                       np.ones(4))


def test_wrt_names_structured_and_plain_arguments(mode, rng):
    args = (mlp_params(rng), rng.standard_normal((5, 3)), rng.standard_normal(5))
    gp, gx = srcad.grad(mlp_loss, wrt=("params", "x"), **options(mode))(*args)
    assert_tree_close(gp, numeric_grad(mlp_loss, args, 0))
    assert_tree_close(gx, numeric_grad(mlp_loss, args, 1))
    (value, gy) = srcad.value_and_grad(mlp_loss, wrt=2, **options(mode))(*args)
    assert value == pytest.approx(mlp_loss(*args), rel=1e-12)


def test_vjp_and_gradcheck(mode, rng):
    def layer(p, x):
        return np.tanh(x @ p["W"] + p["b"])
    p = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    x = rng.standard_normal((4, 3))
    value, pullback = srcad.vjp(layer, p, x, **options(mode))
    np.testing.assert_allclose(value, layer(p, x))
    ct = rng.standard_normal((4, 2))
    assert_tree_close(pullback(ct), numeric_grad(lambda p, x: np.sum(layer(p, x) * ct),
                                                 (p, x), 0))
    assert srcad.gradcheck(mlp_loss, (mlp_params(rng), rng.standard_normal((5, 3)),
                                      rng.standard_normal(5)), mode=mode[0], jit=mode[1])


def writes_into_a_leaf(p, x):
    w = p["w"]
    w[0] = 0.0
    return np.sum(w * x) + np.sum(p["w"] ** 2)


def test_writing_into_a_leaf(mode, rng):
    w, x = rng.standard_normal(3), rng.standard_normal(3)
    before = w.copy()
    g = srcad.grad(writes_into_a_leaf, **options(mode))({"w": w}, x)
    np.testing.assert_array_equal(w, before)  # the caller's array is not changed
    np.testing.assert_allclose(g["w"], np.r_[0.0, x[1:] + 2 * w[1:]])


def helper_norm(v):
    return np.sum(v * v)


def whole_tuple(t, x):
    parts = np.concatenate(t)
    return helper_norm(parts * x) + helper_norm(t[0])


def test_a_tuple_used_whole_is_the_tuple_of_its_leaves(mode, rng):
    check_grad(whole_tuple, ((rng.standard_normal(2), rng.standard_normal(3)),
                             rng.standard_normal(5)), mode=mode)


def reshaped(x, shape):
    return np.sum(np.reshape(x, shape) ** 2 * np.arange(6.0).reshape(shape))


def test_a_shape_tuple_still_works(mode, rng):
    check_grad(reshaped, (rng.standard_normal(6), (2, 3)), mode=mode)


def test_source_shows_the_flat_parameters(rng):
    args = (mlp_params(rng), rng.standard_normal((5, 3)), rng.standard_normal(5))
    text = srcad.source(srcad.grad(mlp_loss), *args)
    assert "def mlp_loss_grad(params_W1, params_b1, params_W2, params_b2, x, y" in text
    assert "bparams_b2" in text


# ---- what cannot be flattened: an error in mode="source", the tape in mode="auto" ----------

def runtime_key(params, x):
    k = "W1" if x[0] > 0 else "b1"
    return np.sum(params[k]) + np.sum(x)


def items_loop(params, x):
    total = np.sum(x)
    for _, v in params.items():
        total = total + np.sum(v)
    return total


def mutates(params, x):
    params["W1"] = params["W1"] * 2.0
    return np.sum(params["W1"]) + np.sum(x)


def whole_dict(params, x):
    return dict_helper(params) + np.sum(x)


def dict_helper(p):
    return np.sum(p["W1"])


def iterates_dict(params, x):
    total = np.sum(x)
    for k in params:
        total = total + 1.0
    return total


def rebinds_in_if(params, x):
    p = params
    if x[0] > 0:
        p = 1.0
    return np.sum(x) * 2.0


@pytest.mark.parametrize("fn, what", [
    (runtime_key, r"params\[k\]: a key computed at run time"),
    (items_loop, r"params.items of a structured argument"),
    (mutates, r"assigning to params\['W1'\] changes the structured argument"),
    (whole_dict, r"the dict params used whole"),
    (iterates_dict, r"iterating over a dict \(params\)"),
    (rebinds_in_if, r"rebinding 'p', a structured value, inside an if"),
])
def test_what_cannot_be_flattened(fn, what, rng):
    params = {"W1": rng.standard_normal((2, 2)), "b1": rng.standard_normal(2)}
    x = np.abs(rng.standard_normal(2)) + 0.1
    line = fn.__code__.co_firstlineno
    with pytest.raises(srcad.UnsupportedError, match=what) as info:
        srcad.grad(fn, mode="source")(params, x)
    assert f"test_structured.py:{line}" not in str(info.value) or fn is whole_dict
    assert "test_structured.py:" in str(info.value)
    with pytest.warns(srcad.FallbackWarning, match=what):
        g = srcad.grad(fn)(params, x)
    assert_tree_close(g, numeric_grad(fn, (params, x), 0))


def test_a_leaf_that_is_not_a_number_runs_on_the_tape(rng):
    def scaled(p, cfg):
        return np.sum(p["w"] ** 2) * (2.0 if cfg["act"] == "double" else 1.0)
    p = {"w": rng.standard_normal(3)}
    with pytest.raises(srcad.UnsupportedError, match=r"cfg\['act'\] of .* is a value of type "
                                                     "str"):
        srcad.grad(scaled, mode="source")(p, {"act": "double"})
    with pytest.warns(srcad.FallbackWarning):
        g = srcad.grad(scaled)(p, {"act": "double"})
    np.testing.assert_allclose(g["w"], 4 * p["w"])


def test_a_structure_that_contains_itself(mode):
    loop = [1.0]
    loop.append(loop)
    with pytest.raises(TypeError, match="contains itself"):
        srcad.grad(lambda p: p[0], **options(mode))(loop)


def test_pytrees_round_trip():
    value = {"a": (1.0, [np.ones(2), {}]), 3: [], "c": ()}
    leaves, treedef = pytrees.flatten(value)
    assert len(leaves) == treedef.num_leaves == 2
    rebuilt = treedef.unflatten(leaves)
    assert rebuilt.keys() == value.keys() and rebuilt["a"][1][1] == {} and rebuilt[3] == []
    assert treedef.paths() == ["['a'][0]", "['a'][1][0]"]
    assert str(treedef) == "{'a': (*, [*, {}]), 3: [], 'c': ()}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hash(treedef) == hash(pytrees.flatten(value)[1])


def augments_a_leaf_alias(p, x):
    a = p["a"]
    a += 2.0  # rebinds a (a float): p["a"] keeps its value
    return a * x + p["a"] ** 2


def test_augmented_assignment_to_a_name_for_a_leaf(mode):
    check_grad(augments_a_leaf_alias, ({"a": 1.5}, 0.5), mode=mode)


def scaled_by_a_count(p, x):
    return np.sum((p["w"] * x) ** 2) * p["n"]


def test_an_integer_leaf_of_a_structure_differentiated_says_to_pass_it_separately():
    p, x = {"w": np.array([0.5, 1.0]), "n": 2}, np.array([1.0, 2.0])
    with pytest.raises(TypeError, match=r"p\['n'\].*not leaves of a structure differentiated"):
        srcad.grad(scaled_by_a_count)(p, x)
    # (a jvp holds it constant, as it does an int argument: its tangent is None or 0)
    value, tangent = srcad.jvp(scaled_by_a_count, (p, x), ({"w": np.ones(2), "n": None}, None))
    assert value == pytest.approx(scaled_by_a_count(p, x))


def _optional_extra(p):
    s = np.sum(p["w"] ** 2)
    if "extra" in p:
        s += p["extra"] ** 2
    elif len(p) > 1 and not "w" in p:  # noqa: E713 (a test of `not`, decided statically)
        s = s * 0.0
    return s


def _optional_second(t):
    s = t[0] ** 2
    if len(t) > 1:
        s += t[1] ** 3
    return s


def test_an_if_on_a_structures_keys_or_length_takes_one_branch(rng):
    """`if "extra" in p: ... p["extra"]` with no such key: the branch not taken is not
    flattened (its read of the missing key was an error; found by an attack)."""
    w = rng.normal(size=3)
    for p in ({"w": w}, {"w": w, "extra": 1.5}):
        got = srcad.grad(_optional_extra, mode="source")(p)
        assert got.keys() == p.keys()
        np.testing.assert_allclose(got["w"], 2 * w, rtol=1e-12)
        if "extra" in p:
            assert got["extra"] == pytest.approx(3.0)
        value, tangent = srcad.jvp(_optional_extra, (p,), ({k: np.ones_like(v) for k, v in
                                                            p.items()},))
        assert tangent == pytest.approx(2 * np.sum(w) + (3.0 if "extra" in p else 0.0))
    assert srcad.grad(_optional_second, mode="source")((2.0,)) == pytest.approx((4.0,))
    assert srcad.grad(_optional_second, mode="source")((2.0, 1.5)) == pytest.approx((4.0, 6.75))


def _counted(x, c):
    s = 0.0
    for i in range(c["n"]):
        s += x[i] ** 2 * c["k"]
    return s


def test_a_jvp_holds_an_integer_leaf_constant(rng):
    """An int leaf of a structure given a tangent (None or 0, as for an int argument) was
    refused as 'cannot differentiate' (found by an attack)."""
    x, k = rng.normal(size=3), float(rng.uniform(0.5, 2.0))
    for zero in (None, 0, 0.0, False, np.int64(0), np.array(0.0)):
        value, tangent = srcad.jvp(_counted, (x, {"n": 2, "k": k}),
                                   (np.ones(3), {"n": zero, "k": 1.0}))
        assert value == pytest.approx(k * (x[0] ** 2 + x[1] ** 2))
        assert tangent == pytest.approx(2 * k * (x[0] + x[1]) + x[0] ** 2 + x[1] ** 2)
    with pytest.raises(TypeError, match=r"'c\['n'\]' is .*int.*give None or 0"):
        srcad.jvp(_counted, (x, {"n": 2, "k": k}), (np.ones(3), {"n": 1, "k": 1.0}))



def rows_picked_by_a_list(x, idx):
    return np.sum(x[idx] ** 2) + np.sum(np.cos(x[idx]))


def rows_stored_through_a_list(x, idx):
    y = x * 1.0
    y[idx] += np.sin(x[idx])
    return np.sum(y ** 2)


@pytest.mark.parametrize("fn,idx", [(rows_picked_by_a_list, [0, 1]),
                                    (rows_picked_by_a_list, [2, 0, 2]),
                                    (rows_picked_by_a_list, [[0, 1], [2, 0]]),
                                    (rows_picked_by_a_list, [True, False, True]),
                                    (rows_stored_through_a_list, [2, 0])],
                         ids=["rows", "repeated", "nested", "booleans", "stored"])
def test_a_list_used_as_an_index_is_numpys_index_array(mode, fn, idx, rng):
    """(x[idx] with idx a list argument was x[idx[0], idx[1]], a tuple's index: wrong numbers)"""
    if mode[0] != "tape" and np.ndim(idx) == 2:
        mode = ("source", False)  # (an index array of rank 2 is refused where Numba compiles)
    x = rng.standard_normal((3, 2))
    value, _ = srcad.value_and_grad(fn, **options(mode))(x, idx)
    assert value == pytest.approx(fn(x, idx), rel=1e-12)
    check_grad(fn, (x, idx), mode=mode)


def test_a_jvp_takes_a_dict_tangent_with_its_keys_in_another_order(rng):
    """Found by an attack: grad takes dicts in any key order, jvp refused the tangent."""
    def f(p):
        return np.sum(p["a"] ** 2) * p["b"]

    x = rng.random(3)
    _, tangent = srcad.jvp(f, ({"a": x, "b": 2.0},), ({"b": 1.0, "a": np.ones(3)},),
                           jit=False)
    assert tangent == pytest.approx(np.sum(x ** 2) + 4 * np.sum(x), rel=1e-12)
    with pytest.raises(ValueError, match="must have the structure of its argument"):
        srcad.jvp(f, ({"a": x, "b": 2.0},), ({"a": np.ones(3)},), jit=False)


def test_a_function_growing_its_list_argument_is_refused_by_name_on_the_tape():
    """Found by an attack: an internal error (zip() of leaves of two lengths)."""
    def f(x, acc):
        acc.append(x)
        return x * x * len(acc)

    with pytest.raises(srcad.UnsupportedError, match="changes the structure of its argument "
                                                     "'acc'"):
        srcad.grad(f, mode="tape")(1.5, [])
