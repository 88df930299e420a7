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


def case(dest, name, op, x, weights, attrs, slots=None, outputs=("y",), ranks=None):
    """One case: node `op` on input `x` and initializers `weights` (name -> array), in the
    node's input `slots` (default: x, then the weights; "" leaves an optional input out)."""
    inits = [numpy_helper.from_array(v, k) for k, v in weights.items()]
    slots = slots or ["x", *weights.keys()]
    node = helper.make_node(op, slots, list(outputs), name=name, **attrs)
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None] * r)
         for o, r in zip(outputs, ranks or [x.ndim] * len(outputs))],
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
        ys = sess.run(None, {"x": x})
    except (ort.capi.onnxruntime_pybind11_state.InvalidArgument,
            ort.capi.onnxruntime_pybind11_state.Fail) as e:
        print(f"skip {name}: onnxruntime refuses it ({str(e).split(': ')[-1]})")
        return
    # onnxruntime's SAME pooling with dilation gives another size than the spec's
    # ceil(in / stride), which onnx's shape inference follows: not a reference there.
    inferred = onnx.shape_inference.infer_shapes(model).graph.output
    for y, o in zip(ys, inferred):
        spec = [d.dim_value for d in o.type.tensor_type.shape.dim]
        if list(y.shape) != spec:
            print(f"skip {name}: onnxruntime's output {list(y.shape)} is not the spec's {spec}")
            return
    d = os.path.join(dest, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    files = [("input_0.pb", x)] + [(f"output_{k}.pb", y) for k, y in enumerate(ys)]
    for fname, arr in files:
        with open(os.path.join(d, "test_data_set_0", fname), "wb") as f:
            f.write(numpy_helper.from_array(arr).SerializeToString())
    print(f"{name}: x {list(x.shape)} -> {[list(y.shape) for y in ys]}")


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

    recurrent(dest, rnd)


def recurrent(dest, rnd):
    """LSTM and GRU: directions, bias or none, initial states or zeros, GRU's
    linear_before_reset, a constant all-full sequence_lens; Y, Y_h (and Y_c)."""
    seq, batch, inp, hid = 3, 2, 3, 4
    for op, gates in [("LSTM", 4), ("GRU", 3)]:
        # Few and short: each unrolled step is several kernels to build on lavapipe.
        variants = [("forward", True, True, 0)]
        variants += [("bidirectional", True, False, 0)] if op == "LSTM" else [
            ("reverse", False, False, 1)]
        for direction, bias, init, lbr in variants:
            dirs = 2 if direction == "bidirectional" else 1
            w = {"W": rnd(dirs, gates * hid, inp) * 0.5, "R": rnd(dirs, gates * hid, hid) * 0.5}
            slots = ["x", "W", "R", "", "", ""]
            if bias:
                w["B"] = rnd(dirs, 2 * gates * hid) * 0.5
                slots[3] = "B"
                w["lens"] = np.full([batch], seq, np.int32)
                slots[4] = "lens"
            if init:
                w["h0"] = rnd(dirs, batch, hid)
                slots[5] = "h0"
            outputs = ["y", "y_h"]
            attrs = {"hidden_size": hid, "direction": direction}
            if op == "LSTM":
                outputs.append("y_c")
                if init:
                    w["c0"] = rnd(dirs, batch, hid)
                    slots.append("c0")
            else:
                attrs["linear_before_reset"] = lbr
            name = (f"test_ort_{op.lower()}_{direction}" + ("_bias" if bias else "")
                    + ("_init" if init else "") + (f"_lbr{lbr}" if op == "GRU" else ""))
            case(dest, name, op, rnd(seq, batch, inp), w, attrs, slots, outputs, [4, 3, 3])


if __name__ == "__main__":
    main()
