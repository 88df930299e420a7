#!/usr/bin/env python3
"""Write tests/data/onnx-ort: single-node ONNX cases with onnxruntime's outputs, in the layout
of the ONNX operator tests (model.onnx, test_data_set_0/{input,output}_N.pb), for what those
tests do not cover: `auto_pad` (SAME_UPPER, SAME_LOWER, VALID, NOTSET with explicit pads) on
Conv (1-D and 2-D), ConvTranspose, MaxPool and AveragePool at odd sizes, strides 2 and 3
and dilations.

Usage (in a venv with `pip install onnx==1.22.0 onnxruntime==1.32.0 numpy`):
    python tools/onnx_ort_cases.py

Weights are initializers; the one float input is fed at run time. Inputs are seeded, so the
files only change when the cases do. Cases onnxruntime refuses (it has no SAME auto_pad with
dilation for Conv) or answers with another output size than the spec's `ceil(in / stride)`
(its SAME pooling with dilation) are skipped with a line saying so; the onnx package's
reference evaluator is no substitute: its Conv gets the SAME size wrong at stride 3.
"""
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 19


def case(dest, name, op, x, weights, attrs):
    """One case: node `op` on input `x` and initializers `weights` (name -> array)."""
    inits = [numpy_helper.from_array(v, k) for k, v in weights.items()]
    node = helper.make_node(op, ["x", *weights.keys()], ["y"], name=name, **attrs)
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * x.ndim)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"x": x})
    except (ort.capi.onnxruntime_pybind11_state.InvalidArgument,
            ort.capi.onnxruntime_pybind11_state.Fail) as e:
        print(f"skip {name}: onnxruntime refuses it ({str(e).split(': ')[-1]})")
        return
    # onnxruntime's SAME pooling with dilation gives another size than the spec's
    # ceil(in / stride), which onnx's shape inference follows: not a reference there.
    inferred = onnx.shape_inference.infer_shapes(model).graph.output[0].type.tensor_type.shape
    spec = [d.dim_value for d in inferred.dim]
    if list(y.shape) != spec:
        print(f"skip {name}: onnxruntime's output {list(y.shape)} is not the spec's {spec}")
        return
    d = os.path.join(dest, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    for fname, arr in [("input_0.pb", x), ("output_0.pb", y)]:
        with open(os.path.join(d, "test_data_set_0", fname), "wb") as f:
            f.write(numpy_helper.from_array(arr).SerializeToString())
    print(f"{name}: x {list(x.shape)} -> y {list(y.shape)}")


def pad_attrs(mode):
    if mode == "NOTSET":
        return {"pads": [1, 0, 1, 1]}
    return {"auto_pad": mode}


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dest = os.path.join(repo, "crates", "flopwatt", "tests", "data", "onnx-ort")
    shutil.rmtree(dest, ignore_errors=True)
    rng = np.random.default_rng(7)

    def rnd(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    modes = ["SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"]
    tag = {"SAME_UPPER": "same_upper", "SAME_LOWER": "same_lower", "VALID": "valid",
           "NOTSET": "pads"}
    # (strides, dilations) at an odd 7x10 input and a 3x2 kernel.
    convs = [((2, 3), (1, 1)), ((1, 1), (2, 2)), ((3, 2), (2, 1))]
    for mode in modes:
        for s, d in convs:
            name = f"test_ort_conv_{tag[mode]}_s{s[0]}x{s[1]}_d{d[0]}x{d[1]}"
            attrs = dict(pad_attrs(mode), strides=list(s), dilations=list(d))
            case(dest, name, "Conv", rnd(1, 2, 7, 10),
                 {"w": rnd(3, 2, 3, 2), "b": rnd(3)}, attrs)
    for mode, s, d in [("SAME_UPPER", 3, 1), ("SAME_LOWER", 2, 2), ("VALID", 2, 1)]:
        name = f"test_ort_conv1d_{tag[mode]}_s{s}_d{d}"
        case(dest, name, "Conv", rnd(1, 2, 11), {"w": rnd(3, 2, 3)},
             {"auto_pad": mode, "strides": [s], "dilations": [d]})
    for mode in ["SAME_UPPER", "SAME_LOWER", "VALID"]:
        name = f"test_ort_convtranspose_{tag[mode]}_s2x3"
        case(dest, name, "ConvTranspose", rnd(1, 2, 5, 4), {"w": rnd(2, 3, 3, 2)},
             {"auto_pad": mode, "strides": [2, 3]})
    # (kernel, strides, dilations)
    pools = [((3, 2), (2, 3), (1, 1)), ((2, 3), (3, 2), (2, 1))]
    for mode in modes:
        for k, s, d in pools:
            sfx = f"k{k[0]}x{k[1]}_s{s[0]}x{s[1]}_d{d[0]}x{d[1]}"
            attrs = dict(pad_attrs(mode), kernel_shape=list(k), strides=list(s),
                         dilations=list(d))
            case(dest, f"test_ort_maxpool_{tag[mode]}_{sfx}", "MaxPool", rnd(1, 2, 7, 10),
                 {}, attrs)
            for cip in [0, 1]:
                case(dest, f"test_ort_averagepool_{tag[mode]}_{sfx}_cip{cip}", "AveragePool",
                     rnd(1, 2, 7, 10), {}, dict(attrs, count_include_pad=cip))


if __name__ == "__main__":
    main()
