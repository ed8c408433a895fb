"""vitune: parameter-efficient fine-tuning of vision transformers, from Python.

    import vitune
    m = vitune.load_model("vit_base_patch16_224", weights="vit_b16.safetensors", num_classes=100)
    m.apply_method("lora", r=8, targets="q,v")
    logits = m.forward(images)                 # NumPy float32 (B, 3, H, W) -> (B, 100)
    m.save_adapter("out/lora", format="peft")

    summary = vitune.finetune(model="vit_base_patch16_224", weights="w.safetensors",
                              data="cifar100:DIR", method="lora", method_opt={"r": 8},
                              epochs=10, out="runs/c100")
    result = vitune.eval(model="vit_base_patch16_224", weights="w.safetensors",
                         adapter="runs/c100/best", data="cifar100:DIR")

finetune() and eval() take the command line's options as keyword arguments (`lr=1e-3` is
`--lr 1e-3`, `no_token_skipping=True` is `--no-token-skipping`, a list repeats the option, a
dict given as method_opt becomes `--method-opt key=value` entries) and return the JSON summary
the command prints. Errors raise vitune.Error, or vitune.UsageError for a bad option.
"""
import json as _json
import os as _os

# The engine's OpenMP threads should wait passively after a short spin (see engine/runtime.h);
# libgomp reads these once, when it loads with the extension below.
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    _os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from ._vitune import (Error, Model, UsageError, create_model, load_model, methods,  # noqa: E402
                      models, run_cli)

__all__ = ["Error", "UsageError", "Model", "create_model", "load_model", "methods", "models",
           "finetune", "eval", "cli", "command_args"]


def command_args(command, **options):
    """The command line `vitune COMMAND ...` that these keyword arguments stand for."""
    args = [command]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, dict):
            for k, v in value.items():
                args += [flag, f"{k}={_json.dumps(v) if not isinstance(v, str) else v}"]
        elif isinstance(value, (list, tuple)):
            for v in value:
                args += [flag, str(v)]
        else:
            args += [flag, str(value)]
    return args


def cli(*args):
    """Runs `vitune ARGS...`; returns what the command printed on stdout."""
    return run_cli([str(a) for a in args])


def _summary(printed):
    lines = [line for line in printed.splitlines() if line.startswith("{")]
    if not lines:
        raise Error("the command printed no JSON summary")
    return _json.loads(lines[-1])


def finetune(**options):
    """`vitune finetune` with the options as keyword arguments; returns its summary (a dict)."""
    return _summary(run_cli(command_args("finetune", **options)))


def eval(**options):  # noqa: A001 (the command's name)
    """`vitune eval` with the options as keyword arguments; returns its result (a dict)."""
    return _summary(run_cli(command_args("eval", **options)))
