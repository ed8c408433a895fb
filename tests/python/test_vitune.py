"""pytest suite of the Python module (python/vitune/): the forward pass on NumPy arrays equals
`vitune forward`, a finetune from Python equals the same run from the command line, adapters
round-trip, and errors arrive as exceptions with vitune's messages.

Run by `meson test` (suite 'python') with PYTHONPATH=BUILD/python, VITUNE_EXE and
VITUNE_FIXTURES set; by hand: PYTHONPATH=build/python python3 -m pytest tests/python
"""
import json
import os
import struct
import subprocess

import numpy as np
import pytest

import vitune

EXE = os.environ.get("VITUNE_EXE", "build/examples/vitune")
FIXTURES = os.environ.get("VITUNE_FIXTURES", "tests/fixtures")
INTEROP = os.path.join(FIXTURES, "interop")
HF_VIT = os.path.join(INTEROP, "hf_vit")

_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def st_save(path, tensors):
    """A safetensors file from NumPy arrays (F32 only, as the tests need)."""
    header, blobs, pos = {}, [], 0
    for name in sorted(tensors):
        b = np.ascontiguousarray(tensors[name], dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    h = json.dumps(header)
    h += " " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h.encode() + b"".join(blobs))


def st_load(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=_DT[v["dtype"]]).reshape(v["shape"])
    return out


def toy_idx(dirname, prefix, n):
    """Fashion-MNIST-format files: 28x28 noisy images whose class (0..3) is the left half's brightness."""
    rng = np.random.RandomState(n)
    labels = np.arange(n) % 4
    img = rng.randint(0, 64, size=(n, 28, 28))
    img[:, :, :14] += 40 + 60 * labels[:, None, None]
    with open(os.path.join(dirname, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + img.astype(np.uint8).tobytes())
    with open(os.path.join(dirname, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def io():
    return st_load(os.path.join(INTEROP, "io.safetensors"))


@pytest.fixture()
def toy_data(tmp_path):
    toy_idx(tmp_path, "train", 48)
    toy_idx(tmp_path, "t10k", 16)
    return "fashion-mnist:" + str(tmp_path)


def test_forward_equals_the_command_line(tmp_path, io):
    x = io["images"].copy()
    m = vitune.load_model(HF_VIT)
    assert (m.name, m.family, m.num_classes, m.checkpoint_layout) == ("vit_transformers", "vit", 5, "transformers")
    got = m.forward(x)
    st_save(tmp_path / "in.safetensors", {"images": x})
    subprocess.run([EXE, "forward", "--model", HF_VIT, "--input", str(tmp_path / "in.safetensors"),
                    "--output", str(tmp_path / "out.safetensors")], check=True, capture_output=True)
    want = st_load(tmp_path / "out.safetensors")["logits"]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, io["logits_base"], rtol=1e-4, atol=1e-5)  # torch's
    # A strided view and float64 input give the same logits (the view is read in place).
    wide = np.zeros((3, 3, 32, 64), dtype=np.float32)
    wide[..., ::2] = x
    np.testing.assert_allclose(m.forward(wide[..., ::2]), got, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m.forward(x.astype(np.float64)), got, rtol=1e-6, atol=1e-6)
    assert m.forward_features(x).shape == (3, 32)


def test_peft_adapter_from_python(tmp_path, io):
    m = vitune.load_model(HF_VIT)
    info = m.load_adapter(os.path.join(INTEROP, "peft_hf"))
    assert info["format"] == "peft" and info["method"] == "lora"
    np.testing.assert_allclose(m.forward(io["images"]), io["logits_peft_hf"], rtol=1e-4, atol=1e-5)
    m.save_adapter(str(tmp_path / "again"), format="peft")
    cfg = json.load(open(tmp_path / "again" / "adapter_config.json"))
    assert cfg["peft_type"] == "LORA" and sorted(cfg["target_modules"]) == ["query", "value"]
    back = vitune.load_model(HF_VIT)
    back.load_adapter(str(tmp_path / "again"))
    np.testing.assert_array_equal(back.forward(io["images"]), m.forward(io["images"]))


def test_apply_method_train_state_and_adapters(tmp_path, io):
    m = vitune.load_model(HF_VIT)
    opts = m.apply_method("lora", r=2, targets="qkv")
    assert opts == {"r": 2, "alpha": 0.0, "targets": "qkv"}
    p = m.parameters()
    trainable = m.state_dict(trainable_only=True)
    assert p["trainable"] == sum(a.size for a in trainable.values()) and p["trainable"] < p["total"]
    assert "blocks.0.attn.qkv.lora_qkv.A" in trainable
    m.save_adapter(str(tmp_path / "ours"))
    back = vitune.load_model(HF_VIT)
    back.load_adapter(str(tmp_path / "ours"))
    np.testing.assert_array_equal(back.forward(io["images"]), m.forward(io["images"]))


def test_finetune_equals_the_command_line(tmp_path, toy_data):
    options = dict(model=HF_VIT, data=toy_data, method="lora", method_opt={"r": 4, "targets": "q,v"},
                   epochs=1, batch=16, lr=5e-3, normalize="none", progress="none", seed=3)
    args = vitune.command_args("finetune", **options, out=str(tmp_path / "cli"))
    assert args[:3] == ["finetune", "--model", HF_VIT]
    assert ["--method-opt", "r=4"] == args[args.index("--method-opt"):args.index("--method-opt") + 2]
    cli = subprocess.run([EXE] + args, check=True, capture_output=True, text=True)
    want = json.loads(cli.stdout.strip().splitlines()[-1])
    got = vitune.finetune(**options, out=str(tmp_path / "py"))
    assert got["method"] == "lora" and got["options"]["targets"] == "q,v"
    for k in ("final_loss", "best_top1", "trainable_params", "steps"):
        if k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-5), k
    a = st_load(tmp_path / "cli" / "best" / "adapter_model.safetensors")
    b = st_load(tmp_path / "py" / "best" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6, err_msg=k)
    r = vitune.eval(model=HF_VIT, adapter=str(tmp_path / "py" / "best"), data=toy_data, normalize="none",
                    progress="none")
    assert r["top1"] == pytest.approx(got["best_top1"])


def test_errors_arrive_as_exceptions(tmp_path):
    with pytest.raises(vitune.Error, match="unknown model 'vit_nonexistent'"):
        vitune.create_model("vit_nonexistent")
    m = vitune.create_model("vit_test_tiny", num_classes=3)
    with pytest.raises(vitune.Error, match="unknown PEFT method 'lorax'"):
        m.apply_method("lorax")
    with pytest.raises(vitune.Error, match="option 'r' must be an integer"):
        m.apply_method("lora", r="eight")
    with pytest.raises(vitune.Error, match=r"images must be \(B, 3, H, W\)"):
        m.forward(np.zeros((2, 1, 32, 32), dtype=np.float32))
    with pytest.raises(vitune.Error, match="no_such_dir"):
        m.load_adapter(str(tmp_path / "no_such_dir"))
    with pytest.raises(vitune.UsageError, match="--epochs"):
        vitune.finetune(model="vit_test_tiny", data="fashion-mnist:" + str(tmp_path), epochs=-1, out=str(tmp_path))
    with pytest.raises(vitune.Error, match="no t10k-images-idx3-ubyte"):
        vitune.eval(model="vit_test_tiny", data="fashion-mnist:" + str(tmp_path / "none"), progress="none")
    assert issubclass(vitune.UsageError, vitune.Error) and issubclass(vitune.Error, RuntimeError)
