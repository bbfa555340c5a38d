"""SiGeo, ZiCo and the Fisher-Rao norm of any torch.nn.Module.

    import sigeo.torch
    r = sigeo.torch.score(model, [(x0, y0), (x1, y1), ...], nn.CrossEntropyLoss(), lambdas=(1, 1, 0))

Per batch: one forward and one backward of the mean loss give the batch
gradients (ZiCo); the Fisher-Rao norm needs, per sample, the directional
derivative d_n = theta . grad l_n (theta = every trainable parameter). Two
exact ways, picked by `method="auto"` and reported in r.fr_method:

 - "hooks": when every trainable parameter belongs to a layer whose output is
   linear in its own parameters (Linear, Conv1d/2d/3d, ConvTranspose, Bilinear,
   Embedding, EmbeddingBag, LayerNorm, GroupNorm, eval-mode BatchNorm; bias
   included) and nothing couples the samples, d_n = B * sum_layers
   delta_n . y_n, delta = d(mean loss)/dy: forward hooks keep each layer's
   output y, tensor hooks take its gradient; no extra pass (docs/proxies.md §4).
   A layer called twice, or a weight shared by two such layers, sums its uses:
   still exact.
 - "jvp": otherwise — train-mode batch norm (samples coupled by the batch
   statistics: delta_n . y_n is then not theta . grad l_n, docs/proxies.md §4.3a),
   partially frozen layers, or layers of other kinds — one forward-mode pass
   per batch (torch.autograd.forward_ad) along the tangent theta gives every
   d_n of the real, coupled per-sample losses.

Module layout (ZiCo's unit): one module per layer that owns trainable
parameters (weight and bias together), named by its qualified name, in
model.named_modules() order; a parameter shared by several layers counts once,
in its first owner. Frozen parameters (requires_grad False) are not part of
the candidate's theta: they enter neither ZiCo nor the Fisher-Rao norm (the
official RecSys code scores a frozen body this way). Batches are batch-first.
The model's parameters, buffers (batch-norm running statistics) and
train/eval mode are the same after the call as before. Tensors may live on
any device; what reaches libsigeo is copied to the CPU.
"""
import copy

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD

from .core import FR, Stats, _pick
from ._errors import InvalidArgumentError

try:
    from torch.func import functional_call as _functional_call
except ImportError:  # torch < 2.0
    from torch.nn.utils.stateless import functional_call as _functional_call

nn = torch.nn
HOMOGENEOUS = (nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
               nn.ConvTranspose3d, nn.Embedding, nn.EmbeddingBag, nn.LayerNorm, nn.GroupNorm)
PROXY_LAMBDAS = {"zico": (1.0, 0.0, 0.0), "fisher-rao": (0.0, 1.0, 0.0)}


def _couples_samples(m):
    """Batch norm normalising with batch statistics (train mode, or no running stats)."""
    return isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or not m.track_running_stats)


def _is_homogeneous(m):
    if isinstance(m, HOMOGENEOUS):
        return not (isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.max_norm is not None)
    # gamma * xhat + beta is linear in (gamma, beta) in either mode; the batch
    # statistics' coupling is what breaks delta . y upstream (_couples_samples)
    return isinstance(m, nn.modules.batchnorm._BatchNorm)


def _modules(model):
    """[(name, module, [params owned first here])], hooked modules, why delta . y is not exact for some
    layer's own parameters (or None), and which layer couples the samples (or None)."""
    out, seen, hooked, why, coupled = [], set(), [], None, None
    for name, m in model.named_modules():
        own = list(m.named_parameters(recurse=False))
        trainable = [(n, p) for n, p in own if p.requires_grad]
        if _couples_samples(m) and coupled is None:
            coupled = f"'{name}' ({type(m).__name__}) couples the samples of a batch (train-mode batch statistics)"
        if not trainable:
            continue
        hooked.append(m)
        if len(trainable) != len(own) and why is None:
            frozen = [n for n, p in own if not p.requires_grad]
            why = f"'{name}' is partially frozen ({', '.join(frozen)})"
        if not _is_homogeneous(m) and why is None:
            why = f"'{name}' ({type(m).__name__}) is not linear in its own parameters"
        first = [p for _, p in trainable if id(p) not in seen]
        seen.update(id(p) for p in first)
        if first:
            out.append((name or "(root)", m, first))
    return out, hooked, why, coupled


def _per_sample_loss_fn(loss_fn):
    if isinstance(loss_fn, nn.modules.loss._Loss) and getattr(loss_fn, "reduction", "none") != "none":
        loss_fn = copy.copy(loss_fn)
        loss_fn.reduction = "none"
    return loss_fn


def _per_sample(loss_fn, out, y, B):
    per = loss_fn(out, y)
    if per.dim() == 0 or per.shape[0] != B:
        raise InvalidArgumentError(-1, f"loss_fn returned shape {tuple(per.shape)}: sigeo needs the per-sample "
                                   f"losses, shape [{B}] or [{B}, ...] (use reduction='none')")
    return per.reshape(B, -1).mean(1) if per.dim() > 1 else per


def _directional_hooks(model, hooked, loss_fn, x, y, B):
    acc = torch.zeros(B, dtype=torch.float64)
    handles = []

    def on_forward(mod, inp, out):
        if not isinstance(out, torch.Tensor):
            raise InvalidArgumentError(-1, f"{type(mod).__name__} returns {type(out).__name__}, not a tensor: "
                                       "use method='jvp'")
        if out.dim() == 0 or out.shape[0] != B:
            raise InvalidArgumentError(-1, f"{type(mod).__name__} output has shape {tuple(out.shape)}, not "
                                       f"batch-first with {B} samples: use method='jvp'")
        if out.requires_grad:
            def on_grad(g, y_=out.detach()):
                acc.add_((g.detach() * y_).reshape(B, -1).sum(1, dtype=torch.float64).cpu())
            out.register_hook(on_grad)

    try:
        handles = [m.register_forward_hook(on_forward) for m in hooked]
        per = _per_sample(loss_fn, model(x), y, B)
    finally:
        for h in handles:
            h.remove()
    mean = per.mean()
    mean.backward()
    return mean.item(), acc.mul_(B).numpy()


def _directional_jvp(model, params, loss_fn, x, y, B):
    """d_n = d/de l_n(theta + e theta) at e = 0, the real coupled losses, by forward mode."""
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    with torch.no_grad(), fwAD.dual_level():
        duals = {n: fwAD.make_dual(p.detach(), p.detach()) for n, p in named.items()}
        per = _per_sample(loss_fn, _functional_call(model, duals, (x,)), y, B)
        t = fwAD.unpack_dual(per).tangent
    if t is None:
        return np.zeros(B)
    return t.double().cpu().numpy()


def score(model, batches, loss_fn, proxy="sigeo", lambdas=None, preset="zero-shot", fr="exact",
          zico="module-wise", loss_term="mean", ddof=0, method="auto"):
    """Scores `model` on batches [(x, y), ...] (k >= 2) with libsigeo's statistics.

    loss_fn(output, y) gives per-sample losses (a torch loss module with
    reduction 'mean' is switched to 'none'); the loss term is their mean.
    proxy: "sigeo" (lambdas or preset), "zico" (1, 0, 0) or "fisher-rao"
    (0, 1, 0; r.score = log FR). method: "auto", "hooks" or "jvp" (module
    docstring). fr: "exact" (default), "identity" (delta . y even where
    samples are coupled: the approximation sigeo_proxy_compute also offers),
    "reference-recsys", "reference-cv" (the official codes' |theta . G|).
    Returns the stats result (score, zico, fr, log_fr, loss, ...) with
    fr_method and module_names added."""
    if proxy in PROXY_LAMBDAS:
        lambdas = PROXY_LAMBDAS[proxy]
    elif proxy != "sigeo":
        raise InvalidArgumentError(-1, f"proxy {proxy!r}: sigeo.torch.score knows sigeo, zico, fisher-rao")
    fr_kind = _pick(FR, fr, "fr")
    method = _pick({"auto": 0, "hooks": 1, "jvp": 2}, method, "method")
    batches = list(batches)
    mods, hooked, why, coupled = _modules(model)
    if not mods:
        raise InvalidArgumentError(-1, "the model has no trainable parameters (every requires_grad is False)")
    if fr_kind == FR["identity"]:
        if why:
            raise InvalidArgumentError(-1, f"fr='identity' needs delta . y layers, but {why}")
        use_hooks = True
    elif method == 1:
        why = why or coupled
        if why:
            raise InvalidArgumentError(-1, f"method='hooks' is not exact for this model: {why}; use method='jvp' "
                                       "(or 'auto')")
        use_hooks = True
    else:
        why = why or coupled
        use_hooks = method == 0 and why is None
    need_d = lambdas is None or float(lambdas[1]) != 0.0 if fr_kind <= 1 else False
    per_fn = _per_sample_loss_fn(loss_fn)

    params = [p for _, _, ps in mods for p in ps]
    saved_params = [p.detach().clone() for p in params]
    saved_buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    saved_grads = {id(p): p.grad for p in model.parameters()}
    with Stats(zico=zico, fr=fr, loss_term=loss_term, lambdas=lambdas, preset=preset, ddof=ddof) as s:
        for name, _, ps in mods:
            s.add_module(name, sum(p.numel() for p in ps))
        try:
            for x, y in batches:
                B = x.shape[0]
                for p in model.parameters():
                    p.grad = None
                if use_hooks and need_d:
                    loss, d = _directional_hooks(model, hooked, per_fn, x, y, B)
                else:
                    per = _per_sample(per_fn, model(x), y, B)
                    mean = per.mean()
                    mean.backward()
                    loss = mean.item()
                    d = _directional_jvp(model, params, per_fn, x, y, B) if need_d else None
                grads = [torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                                    for p in ps]).detach().cpu().numpy() for _, _, ps in mods]
                s.add_batch(grads, loss=loss, batch_size=B, directional=d)
            if fr_kind >= 2:
                for i, (_, _, ps) in enumerate(mods):
                    s.set_params(i, torch.cat([p.detach().reshape(-1) for p in ps]).cpu().numpy())
            r = s.compute()
        finally:
            with torch.no_grad():
                for p, v in zip(params, saved_params):
                    p.copy_(v)
                for n, b in model.named_buffers():
                    b.copy_(saved_buffers[n])
            for p in model.parameters():
                p.grad = saved_grads.get(id(p))
    if proxy == "zico":
        r["score"] = r["zico"]
    elif proxy == "fisher-rao":
        r["score"] = r["log_fr"]
    r["fr_method"] = ("hooks" if use_hooks else "jvp") if need_d else "none"
    r["fr_method_reason"] = why
    r["module_names"] = [n for n, _, _ in mods]
    return r
