#!/usr/bin/python3
"""Writes the interop fixtures: a ViT in Hugging Face transformers' naming and peft-format LoRA
adapters, made with torch alone (no transformers or peft package is available here; the module
tree below follows transformers' models/vit/modeling_vit.py, and the adapter files follow peft's
utils/save_and_load.py and tuners/lora/config.py).

    /usr/bin/python3 tests/reference/interop.py

Outputs under tests/fixtures/interop/:
  hf_vit/config.json, hf_vit/model.safetensors    ViTForImageClassification, transformers' keys
  timm_vit.safetensors                            the same weights in timm's names (fused qkv)
  peft_hf/                                        LoRA on query and value, classifier saved
  peft_timm/                                      LoRA on qkv, head saved
  peft_timm_patterns/                             LoRA on qkv and fc2 with rank_pattern,
                                                  alpha_pattern and use_rslora
  io.safetensors                                  images and the logits torch computes for the
                                                  base model and each adapter
  hf_swin/config.json, hf_swin/model.safetensors  the swin_test_tiny fixture (tests/reference/
                                                  backbones.py) in transformers' Swin names; its
                                                  logits are swin_test_tiny_io.safetensors'
The C++ tests (tests/test_interop.cpp) load each and must match the logits to 1e-4 relative.
"""
import json
import math
import os
import re
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "interop")

CFG = {  # transformers' ViTConfig fields
    "architectures": ["ViTForImageClassification"], "model_type": "vit",
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    "initializer_range": 0.02, "layer_norm_eps": 1e-12, "image_size": 32, "patch_size": 8,
    "num_channels": 3, "qkv_bias": True, "encoder_stride": 8,
    "id2label": {str(i): f"class_{i}" for i in range(5)},
    "label2id": {f"class_{i}": i for i in range(5)},
    "torch_dtype": "float32", "transformers_version": "4.46.0",
}


# ---- transformers' module tree (names only matter: they make the state-dict keys) ----
class SelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):  # (B, N, D)
        B, N, D = x.shape
        split = lambda t: t.view(B, N, self.heads, D // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // self.heads), dim=-1)
        return (a @ v).transpose(1, 2).reshape(B, N, D)


class Dense(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.dense = nn.Linear(i, o)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.attention = SelfAttention(d, heads)
        self.output = Dense(d, d)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.attention = Attention(d, c["num_attention_heads"])
        self.intermediate = Dense(d, c["intermediate_size"])
        self.output = Dense(c["intermediate_size"], d)
        self.layernorm_before, self.layernorm_after = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)

    def forward(self, h):
        h = self.attention.output.dense(self.attention.attention(self.layernorm_before(h))) + h
        z = nn.functional.gelu(self.intermediate.dense(self.layernorm_after(h)))
        return self.output.dense(z) + h


class PatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.projection = nn.Conv2d(c["num_channels"], c["hidden_size"], c["patch_size"], c["patch_size"])


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = (c["image_size"] // c["patch_size"]) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, c["hidden_size"]) * 0.5)
        self.position_embeddings = nn.Parameter(torch.randn(1, n + 1, c["hidden_size"]) * 0.5)
        self.patch_embeddings = PatchEmbeddings(c)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])


class ViTModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings, self.encoder = Embeddings(c), Encoder(c)
        self.layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])


class ViTForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vit = ViTModel(c)
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(self, x):
        e = self.vit.embeddings
        p = e.patch_embeddings.projection(x).flatten(2).transpose(1, 2)  # (B, N, D)
        h = torch.cat([e.cls_token.expand(x.shape[0], -1, -1), p], 1) + e.position_embeddings
        for layer in self.vit.encoder.layer:
            h = layer(h)
        return self.classifier(self.vit.layernorm(h)[:, 0])


# ---- peft's LoRA: y = W x + b + s · B A x on the targeted nn.Linear ----
class LoraLinear(nn.Module):
    def __init__(self, base, r, alpha, rslora):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.normal_(self.lora_A.weight, std=0.3)
        nn.init.normal_(self.lora_B.weight, std=0.3)  # non-zero: a trained adapter
        self.scaling = alpha / math.sqrt(r) if rslora else alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def wrap(model, cfg):
    """Replaces every targeted Linear as peft's LoraModel does; returns {module name: LoraLinear}."""
    targets, wrapped = cfg["target_modules"], {}
    for name, mod in list(model.named_modules()):
        if not isinstance(mod, nn.Linear) or not any(name == t or name.endswith("." + t) for t in targets):
            continue
        key = next((k for k in list(cfg["rank_pattern"]) + list(cfg["alpha_pattern"])
                    if name == k or name.endswith("." + k)), name)
        r = cfg["rank_pattern"].get(key, cfg["r"])
        alpha = cfg["alpha_pattern"].get(key, cfg["lora_alpha"])
        parent, _, leaf = name.rpartition(".")
        lora = LoraLinear(mod, r, alpha, cfg["use_rslora"])
        setattr(model.get_submodule(parent), leaf, lora)
        wrapped[name] = lora
    return wrapped


def peft_config(**kw):  # every key peft's LoraConfig writes, with its defaults
    c = {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": None, "bias": "none",
         "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
         "layer_replication": None, "layers_pattern": None, "layers_to_transform": None,
         "loftq_config": {}, "lora_alpha": 8, "lora_dropout": 0.0, "megatron_config": None,
         "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": 8,
         "rank_pattern": {}, "revision": None, "target_modules": [], "task_type": None,
         "use_dora": False, "use_rslora": False}
    c.update(kw)
    return c


def save_adapter(dirname, cfg, wrapped, head_name, head):
    """adapter_config.json + adapter_model.safetensors with peft's keys: base_model.model.<module>
    .lora_A.weight / .lora_B.weight (the adapter name removed), a modules_to_save module under
    base_model.model.<module>.<param>."""
    d = os.path.join(OUT, dirname)
    os.makedirs(d, exist_ok=True)
    sd = {}
    for name, lora in wrapped.items():
        sd[f"base_model.model.{name}.lora_A.weight"] = lora.lora_A.weight
        sd[f"base_model.model.{name}.lora_B.weight"] = lora.lora_B.weight
    for p in ("weight", "bias"):
        sd[f"base_model.model.{head_name}.{p}"] = getattr(head, p)
    st.save(os.path.join(d, "adapter_model.safetensors"), sd, {"format": "pt"})
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def hf_to_timm(sd, layers):
    out = {"cls_token": sd["vit.embeddings.cls_token"], "pos_embed": sd["vit.embeddings.position_embeddings"],
           "norm.weight": sd["vit.layernorm.weight"], "norm.bias": sd["vit.layernorm.bias"],
           "head.weight": sd["classifier.weight"], "head.bias": sd["classifier.bias"]}
    for p in ("weight", "bias"):
        out[f"patch_embed.proj.{p}"] = sd[f"vit.embeddings.patch_embeddings.projection.{p}"]
        for i in range(layers):
            h = f"vit.encoder.layer.{i}."
            out[f"blocks.{i}.attn.qkv.{p}"] = torch.cat(
                [sd[h + f"attention.attention.{n}.{p}"] for n in ("query", "key", "value")])
            for ours, theirs in (("norm1", "layernorm_before"), ("norm2", "layernorm_after"),
                                 ("attn.proj", "attention.output.dense"), ("mlp.fc1", "intermediate.dense"),
                                 ("mlp.fc2", "output.dense")):
                out[f"blocks.{i}.{ours}.{p}"] = sd[h + theirs + "." + p]
    return out


def timm_vit(sd, c):
    """A timm-named copy of the model as a plain module tree: blocks.i.attn.{qkv,proj}, mlp.fc1/fc2."""
    root = nn.Module()
    root.blocks = nn.ModuleList()
    for i in range(c["num_hidden_layers"]):
        b = nn.Module()
        b.attn, b.mlp = nn.Module(), nn.Module()
        d, m = c["hidden_size"], c["intermediate_size"]
        b.attn.qkv, b.attn.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        b.mlp.fc1, b.mlp.fc2 = nn.Linear(d, m), nn.Linear(m, d)
        for n in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"):
            lin = b.get_submodule(n)
            lin.weight.data.copy_(sd[f"blocks.{i}.{n}.weight"])
            lin.bias.data.copy_(sd[f"blocks.{i}.{n}.bias"])
        root.blocks.append(b)
    return root


def timm_forward(root, sd, c, x, head):
    d, H = c["hidden_size"], c["num_attention_heads"]
    eps = c["layer_norm_eps"]
    ln = lambda t, k: nn.functional.layer_norm(t, (d,), sd[k + ".weight"], sd[k + ".bias"], eps)
    p = nn.functional.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=c["patch_size"])
    h = torch.cat([sd["cls_token"].expand(x.shape[0], -1, -1), p.flatten(2).transpose(1, 2)], 1) + sd["pos_embed"]
    B, N, _ = h.shape
    for i, b in enumerate(root.blocks):
        qkv = b.attn.qkv(ln(h, f"blocks.{i}.norm1")).view(B, N, 3, H, d // H).permute(2, 0, 3, 1, 4)
        a = torch.softmax(qkv[0] @ qkv[1].transpose(-1, -2) / math.sqrt(d // H), dim=-1)
        h = h + b.attn.proj((a @ qkv[2]).transpose(1, 2).reshape(B, N, d))
        h = h + b.mlp.fc2(nn.functional.gelu(b.mlp.fc1(ln(h, f"blocks.{i}.norm2"))))
    return head(ln(h, "norm")[:, 0])


SWIN_BLOCK = [("norm1", "layernorm_before"), ("norm2", "layernorm_after"),
              ("attn.relative_position_bias_table", "attention.self.relative_position_bias_table"),
              ("attn.proj", "attention.output.dense"), ("mlp.fc1", "intermediate.dense"),
              ("mlp.fc2", "output.dense")]


def swin_timm_to_hf(sd):
    """timm's Swin names -> transformers' (models/swin/modeling_swin.py): q/k/v split, the
    downsample that opens stage s (timm) closes stage s - 1 (transformers), head.fc -> classifier."""
    out = {}
    for k, v in sd.items():
        m = re.fullmatch(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)", k)
        d = re.fullmatch(r"layers\.(\d+)\.downsample\.(.+)", k)
        if m:
            blk = f"swin.encoder.layers.{m[1]}.blocks.{m[2]}."
            rest = m[3]
            q = re.fullmatch(r"attn\.qkv\.(weight|bias)", rest)
            if q:
                for part, t in zip(("query", "key", "value"), v.chunk(3, 0)):
                    out[blk + f"attention.self.{part}.{q[1]}"] = t.clone()
                continue
            for ours, theirs in SWIN_BLOCK:
                if rest.startswith(ours):
                    out[blk + theirs + rest[len(ours):]] = v
                    break
            else:
                raise KeyError(k)
        elif d:
            out[f"swin.encoder.layers.{int(d[1]) - 1}.downsample.{d[2]}"] = v
        elif k.startswith("patch_embed.proj."):
            out["swin.embeddings.patch_embeddings.projection." + k.split(".")[-1]] = v
        elif k.startswith("patch_embed.norm."):
            out["swin.embeddings.norm." + k.split(".")[-1]] = v
        elif k.startswith("norm."):
            out["swin.layernorm." + k.split(".")[-1]] = v
        elif k.startswith("head.fc."):
            out["classifier." + k.split(".")[-1]] = v
        else:
            raise KeyError(k)
    return out


def write_hf_swin():
    """swin_test_tiny (img 56, patch 4, window 7, dim 32, depths 2,2, heads 2,4, 10 classes)."""
    sd = st.load(os.path.join(HERE, "..", "fixtures", "swin_test_tiny_timm.safetensors"))
    d = os.path.join(OUT, "hf_swin")
    os.makedirs(d, exist_ok=True)
    st.save(os.path.join(d, "model.safetensors"), swin_timm_to_hf(sd), {"format": "pt"})
    cfg = {"architectures": ["SwinForImageClassification"], "model_type": "swin", "image_size": 56,
           "patch_size": 4, "num_channels": 3, "embed_dim": 32, "depths": [2, 2], "num_heads": [2, 4],
           "window_size": 7, "mlp_ratio": 4.0, "qkv_bias": True, "hidden_act": "gelu",
           "layer_norm_eps": 1e-5, "use_absolute_embeddings": False, "drop_path_rate": 0.0,
           "encoder_stride": 32, "id2label": {str(i): f"c{i}" for i in range(10)}}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def main():
    torch.manual_seed(0)
    os.makedirs(os.path.join(OUT, "hf_vit"), exist_ok=True)
    model = ViTForImageClassification(CFG)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "layernorm" in n:
                p.copy_((1.0 if n.endswith("weight") else 0.0) + 0.1 * torch.randn_like(p))
            elif n.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif "embeddings" not in n:
                p.copy_(torch.randn_like(p) / math.sqrt(p.shape[1] if p.dim() == 2 else p[0].numel()))
    base_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    st.save(os.path.join(OUT, "hf_vit", "model.safetensors"), base_sd, {"format": "pt"})
    with open(os.path.join(OUT, "hf_vit", "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)
        f.write("\n")
    timm_sd = hf_to_timm(base_sd, CFG["num_hidden_layers"])
    st.save(os.path.join(OUT, "timm_vit.safetensors"), timm_sd, {"format": "pt"})

    x = torch.randn(3, 3, CFG["image_size"], CFG["image_size"])
    io = {"images": x}
    with torch.no_grad():
        io["logits_base"] = model(x)

        # 1. transformers' naming: the common recipe, LoRA on query and value, classifier saved.
        hf = ViTForImageClassification(CFG)
        hf.load_state_dict(base_sd)
        hf.classifier.weight.add_(0.2 * torch.randn_like(hf.classifier.weight))  # a trained head
        cfg = peft_config(r=4, lora_alpha=8, target_modules=["query", "value"], modules_to_save=["classifier"],
                          lora_dropout=0.1, base_model_name_or_path="hf_vit")
        save_adapter("peft_hf", cfg, wrap(hf, cfg), "classifier", hf.classifier)
        io["logits_peft_hf"] = hf(x)

        # 2. timm's naming: LoRA on the fused qkv, head saved.
        root = timm_vit(timm_sd, CFG)
        head = nn.Linear(CFG["hidden_size"], 5)
        head.weight.copy_(timm_sd["head.weight"] + 0.2 * torch.randn_like(head.weight))
        head.bias.copy_(timm_sd["head.bias"])
        cfg = peft_config(r=4, lora_alpha=16, target_modules=["qkv"], modules_to_save=["head"],
                          base_model_name_or_path="timm_vit")
        save_adapter("peft_timm", cfg, wrap(root, cfg), "head", head)
        io["logits_peft_timm"] = timm_forward(root, timm_sd, CFG, x, head)

        # 3. per-module ranks and alphas, rsLoRA scaling, targets qkv and fc2.
        root = timm_vit(timm_sd, CFG)
        cfg = peft_config(r=4, lora_alpha=8, target_modules=["qkv", "fc2"], modules_to_save=["head"],
                          rank_pattern={"fc2": 2}, alpha_pattern={"blocks.1.attn.qkv": 3},
                          use_rslora=True, base_model_name_or_path="timm_vit")
        save_adapter("peft_timm_patterns", cfg, wrap(root, cfg), "head", head)
        io["logits_peft_timm_patterns"] = timm_forward(root, timm_sd, CFG, x, head)
    st.save(os.path.join(OUT, "io.safetensors"), io)
    write_hf_swin()
    for k, v in io.items():
        print(k, tuple(v.shape), float(v.abs().mean()))


if __name__ == "__main__":
    main()
