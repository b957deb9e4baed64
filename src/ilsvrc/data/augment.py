"""Batched augmentation and evaluation crops on whole uint8 batches, on whatever device the batch is on.

Every training augmentation here is one resampling of an axis-aligned source window per image: the window (and a
mirror flag) is drawn per image from the caller's CPU generator, turned into two bilinear taps per output row and
per output column, and applied to the whole batch at once (gathers + lerps), fused with normalisation and PCA
lighting. So the CIFAR recipe, Inception's random-resized-crop and VGG's scale jittering differ only in how the
windows are drawn. `resample_windows` (that resampling) and `random_resized_crop_boxes` (Inception's windows) are
public: JPEG packs crop each variable-size stored image with the same two (jpeg_pack.py).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ilsvrc.data.resample import center_crop, resize_shorter

PAD_MODES = ("zero", "reflect")  # pad-crop-flip's border: black (He et al.) or mirrored (airbench)
KINDS = ("pad-crop-flip", "random-resized-crop", "scale-jitter", "resize-crop", "center", "none")
RESNET_JITTER = (256, 480)  # He et al. 2015: shorter side sampled in [256, 480], 224 crops


def _norm_consts(mean: Sequence[float], std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with (x_uint8 * scale + shift) == (x / 255 - mean) / std."""
    mean_t = torch.tensor([float(m) for m in mean], dtype=torch.float32)
    std_t = torch.tensor([float(s) for s in std], dtype=torch.float32)
    if (std_t <= 0).any():
        raise ValueError(f"std must be positive, got {tuple(std)}")
    return 1.0 / (255.0 * std_t), -mean_t / std_t


def _per_channel(t: torch.Tensor, c: int) -> torch.Tensor:
    """A per-channel constant for c channels (a single value is broadcast; extra values are ignored)."""
    return t.expand(c) if t.numel() == 1 else t[:c]


def _axis_taps(start: np.ndarray, extent: np.ndarray, n_src: int, out: int, zero_pad: bool, reflect: bool = False):
    """Filter taps mapping source windows [start, start + extent) (B,) onto `out` pixels along one axis.

    A triangle (tent) filter whose half-width is max(1, extent / out) source pixels: plain bilinear interpolation
    (align_corners=False) when enlarging, an antialiasing filter when shrinking (Pillow's and torchvision's
    antialiased bilinear). Returns idx (B, out, K) int32 source indices and w (B, out, K) float32 weights that sum
    to 1, with K the batch's widest footprint (unused taps have weight 0, index 0). Source pixels outside the
    image get weight 0 and, with zero_pad, the rest are not renormalised (zero padding); otherwise they are
    (edge handling as Pillow's). reflect: a coordinate outside the image is mirrored about the edge pixel's
    centre, as F.pad(mode="reflect") pads (pixel -1 reads pixel 1); for pad-crop-flip's shifted windows, also
    when --low-res shrinks them. numpy, on purpose: small arrays, where torch's thread pool costs more than the
    arithmetic.
    """
    ratio = extent / out  # source pixels per output pixel (B,)
    if (ratio <= 1.0).all():  # only enlarging (the common case): two bilinear taps, computed directly
        return _bilinear_taps(start, ratio, n_src, out, zero_pad, reflect)
    support = np.maximum(ratio, 1.0)
    centre = start[:, None] + (np.arange(out) + 0.5)[None, :] * ratio[:, None]  # (B, out), pixel centres at i + .5
    first = np.floor(centre - support[:, None] + 0.5).astype(np.int64)  # the leftmost pixel the tent can reach
    k = int(np.ceil(2 * support.max() - 1e-6))  # the open interval |i + .5 - centre| < support holds <= 2 * support
    idx = first[:, :, None] + np.arange(k)[None, None, :]  # (B, out, K)
    w = np.maximum(0.0, 1.0 - np.abs(idx + 0.5 - centre[:, :, None]) / support[:, None, None])
    if reflect:  # pixels beyond an edge read their mirror image about the edge pixel (shifts below the size)
        last = n_src - 1
        idx = last - np.abs(last - np.abs(idx))
    inside = (idx >= 0) & (idx < n_src)
    total = w.sum(-1, keepdims=True)  # the full tent's mass, before dropping pixels outside the image
    w = w * inside
    w = w / (total if zero_pad else np.maximum(w.sum(-1, keepdims=True), 1e-12))
    if not zero_pad:  # a window centre beyond the edge (possible for "none" on tiny crops): replicate the edge
        empty = ~(w > 0).any(-1)
        if empty.any():
            edge = np.clip(np.round(centre - 0.5), 0, n_src - 1).astype(np.int64)
            w[empty] = 0.0
            idx[empty, 0] = edge[empty]
            w[empty, 0] = 1.0
    idx = np.where(w > 0, np.clip(idx, 0, n_src - 1), 0)
    return idx.astype(np.int32), w.astype(np.float32)


def _bilinear_taps(start: np.ndarray, ratio: np.ndarray, n_src: int, out: int, zero_pad: bool, reflect: bool = False):
    """_axis_taps for ratio <= 1: the same numbers from the 2-tap bilinear formula, a few times faster."""
    coord = start[:, None] + (np.arange(out) + 0.5)[None, :] * ratio[:, None] - 0.5
    if reflect:  # mirror about the centres of pixels 0 and n - 1 (valid for shifts below the image size)
        last = n_src - 1
        coord = last - np.abs(last - np.abs(coord))
        zero_pad = False
    if not zero_pad:
        coord = np.clip(coord, 0, n_src - 1)  # edge pixels repeat, as the renormalised tent gives
    lo = np.floor(coord)
    idx = np.empty((*coord.shape, 2), dtype=np.int32)
    w = np.empty((*coord.shape, 2), dtype=np.float32)
    idx[..., 0] = lo
    idx[..., 1] = lo + 1
    w[..., 1] = coord - lo
    w[..., 0] = 1.0 - w[..., 1]
    if zero_pad:
        w *= (idx >= 0) & (idx < n_src)
    np.clip(idx, 0, n_src - 1, out=idx)
    idx[w == 0] = 0  # unused taps point at pixel 0, as _axis_taps does
    return idx, w


def _sample_separable(x, iy, wy, ix, wx, scale, shift):
    """PyTorch-ops resampling (GPU batches; CPU without a C compiler): rows, then columns; float32 (B, C, oh, ow).

    Rows are gathered as contiguous uint8 slices and converted straight into NCHW order; columns are then a
    gather along the last dimension with an expanded (not materialised) index. One pass per filter tap.
    """
    B, _, W, C = x.shape
    oh, ow = iy.shape[1], ix.shape[1]
    b = torch.arange(B, device=x.device)[:, None]
    iy, ix = iy.long(), ix.long()
    rows = torch.zeros((B, C, oh, W), device=x.device)
    tap = torch.empty_like(rows)
    for t in range(iy.shape[2]):
        tap.copy_(x[b, iy[:, :, t]].permute(0, 3, 1, 2))  # (B, oh, W, C) uint8 -> (B, C, oh, W) float32
        rows.addcmul_(tap, wy[:, :, t].view(B, 1, oh, 1))
    out = torch.zeros((B, C, oh, ow), device=x.device)
    for t in range(ix.shape[2]):
        col = torch.gather(rows, 3, ix[:, :, t].view(B, 1, 1, ow).expand(B, C, oh, ow))
        out.addcmul_(col, wx[:, :, t].view(B, 1, 1, ow))
    return out.mul_(scale.view(1, C, 1, 1)).add_(shift.view(B, C, 1, 1))


BACKENDS = ("auto", "native", "torch")


def _sampler(device: torch.device, backend: str):
    """The resampling function for a batch on `device`.

    auto: the native C kernel on CPU when it builds (native.py), else PyTorch ops; on GPUs always PyTorch ops.
    native: the C kernel (CPU only). torch: PyTorch ops.
    """
    if device.type != "cpu" or backend == "torch":
        return _sample_separable
    from ilsvrc.data import native

    if native.available():
        return native.resample
    if backend == "native":
        raise RuntimeError("the native kernel needs a C compiler (cc) on first use; use backend='torch'")
    return _sample_separable


def _counts(items: list, i: int) -> tuple[int, int]:
    """(Python references to items[i], C++ references to its storage), each including this call's own."""
    return sys.getrefcount(items[i]), torch._C._storage_Use_Count(items[i].untyped_storage()._cdata)


try:
    _UNSHARED = _counts([torch.empty(1)], 0)  # the counts of a tensor referenced by one list and nothing else
except Exception:
    _UNSHARED = None


def _only_in_list(items: list, i: int) -> bool:
    return _UNSHARED is not None and _counts(items, i) == _UNSHARED


def random_resized_crop_boxes(
    n: int,
    h: int,
    w: int,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    tries: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inception crop windows for n images of h x w pixels: (top, left, height, width), float64 (n,) each, in pixels.

    torchvision's RandomResizedCrop.get_params, vectorised: area fraction uniform in `scale`, aspect ratio
    log-uniform in `ratio`; the first of `tries` attempts that fits, else the whole image cropped to the nearest
    allowed ratio. Draws exactly 4 * n * tries uniforms from `generator` (CPU), so callers stay reproducible.
    Shared by TrainAugment (a batch of same-size images) and JPEG packs (one call per stored image).
    """
    u = torch.rand((4, n, tries), generator=generator, dtype=torch.float64).numpy()
    area = h * w * (scale[0] + u[0] * (scale[1] - scale[0]))
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    ar = np.exp(log_lo + u[1] * (log_hi - log_lo))
    cw = np.round(np.sqrt(area * ar))
    ch = np.round(np.sqrt(area / ar))
    ok = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    found = ok.any(1)
    pick = ok.argmax(1)  # the first attempt that fits
    rows = np.arange(n)
    ch_p, cw_p = ch[rows, pick], cw[rows, pick]
    top = np.floor(u[2][rows, pick] * (h - ch_p + 1))
    left = np.floor(u[3][rows, pick] * (w - cw_p + 1))
    # fallback: the whole image, cropped to the nearest allowed aspect ratio
    in_ratio = w / h
    if in_ratio < ratio[0]:
        fw, fh = float(w), float(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = float(round(h * ratio[1])), float(h)
    else:
        fw, fh = float(w), float(h)
    ch_p = np.where(found, ch_p, fh)
    cw_p = np.where(found, cw_p, fw)
    top = np.where(found, top, (h - fh) // 2)
    left = np.where(found, left, (w - fw) // 2)
    return top, left, ch_p, cw_p


def resample_windows(
    images: torch.Tensor,
    windows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    out_size: int,
    *,
    mirror: np.ndarray | None = None,
    scale: np.ndarray,
    shift: np.ndarray,
    zero_pad: bool = False,
    reflect: bool = False,
    backend: str = "auto",
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The one augmentation resampler: uint8 (B, H, W, C) -> float32 (B, C, out_size, out_size).

    windows: per-image source boxes (top, left, height, width), float64 (B,) each, in source pixels; mirror: bool
    (B,) to flip horizontally; output = resampled pixel value (0..255) * scale (C,) + shift (B, C). Tent-filter
    taps (_axis_taps) applied by the native C kernel on CPU or PyTorch ops (_sampler); `out` is an optional
    float32 buffer the native kernel writes into. Pixels outside the image: zero_pad (black), reflect (mirrored about
    the edge pixel), else the edge pixel repeated.
    """
    h, w = images.shape[1:3]
    top, left, hh, ww = windows
    iy, wy = _axis_taps(top, hh, h, out_size, zero_pad, reflect)
    ix, wx = _axis_taps(left, ww, w, out_size, zero_pad, reflect)
    if mirror is not None:
        flip = np.asarray(mirror, dtype=bool)[:, None, None]
        ix, wx = np.where(flip, ix[:, ::-1], ix), np.where(flip, wx[:, ::-1], wx)
    dev = images.device
    taps = [torch.from_numpy(np.ascontiguousarray(t)).to(dev) for t in (iy, wy, ix, wx)]
    fn = _sampler(dev, backend)
    scale_t = torch.from_numpy(np.ascontiguousarray(scale, dtype=np.float32)).to(dev)
    shift_t = torch.from_numpy(np.ascontiguousarray(shift, dtype=np.float32)).to(dev)
    if getattr(fn, "__name__", "") == "resample":  # the native kernel
        return fn(images, *taps, scale_t, shift_t, out=out)
    return fn(images, *taps, scale_t, shift_t)


class TrainAugment(nn.Module):
    """Random crops, flips, PCA lighting and normalisation for a uint8 (B, H, W, C) batch -> float32 (B, C, out, out).

    kind: "pad-crop-flip" (CIFAR: pad by `pad`, black or with `pad_mode="reflect"` mirrored as airbench does, and
    a random crop of the image size), "random-resized-crop"
    (Inception: area fraction in `scale`, aspect ratio in `ratio`), "scale-jitter" (VGG: shorter side S uniform in
    `jitter` scaled by out_size/224, then a random out_size crop), "resize-crop" (ResNet: the same with S in
    [256, 480]), "center" (centre square), "none" (the whole image resized, no flip). cutout: a square of this
    many pixels per image, placed at random wholly inside the output, set to 0 after normalisation (the data's mean
    colour; DeVries & Taylor 2017, as airbench96 places it); 0 = off. All randomness comes from the
    `generator` passed to forward (a CPU torch.Generator), so a run is reproducible and resumable.
    Resampling is bilinear when enlarging and antialiased (a wider tent filter) when shrinking a window.
    backend: "auto" (default) runs a small compiled C kernel on CPU batches when a C compiler is present (several
    times faster than PyTorch ops there) and PyTorch ops on GPU batches; "torch" or "native" force one.
    """

    def __init__(
        self,
        kind: str,
        out_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        pad: int = 4,
        pad_mode: str = "zero",
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        jitter: tuple[float, float] = (256, 512),
        flip: bool = True,
        pca_std: float = 0.0,
        pca_eigval: Sequence[float] | None = None,
        pca_eigvec: Sequence[Sequence[float]] | None = None,
        cutout: int = 0,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown augmentation {kind!r}; choose from {', '.join(KINDS)}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        if pca_std > 0 and (pca_eigval is None or pca_eigvec is None):
            raise ValueError("pca_std > 0 needs pca_eigval and pca_eigvec (ArrayDataset.meta has them for RGB data)")
        if pad_mode not in PAD_MODES:
            raise ValueError(f"unknown pad_mode {pad_mode!r}; choose from {', '.join(PAD_MODES)}")
        if not 0 <= int(cutout) <= int(out_size):
            raise ValueError(f"cutout must be between 0 and the output size {out_size}, got {cutout}")
        self.kind, self.out_size, self.pad, self.pad_mode = kind, int(out_size), int(pad), pad_mode
        self.cutout = int(cutout)
        self.scale, self.ratio = (float(scale[0]), float(scale[1])), (float(ratio[0]), float(ratio[1]))
        self.jitter = RESNET_JITTER if kind == "resize-crop" else (float(jitter[0]), float(jitter[1]))
        self.flip = flip and kind != "none"
        self.pca_std = float(pca_std)
        self.backend = backend
        norm_scale, norm_shift = _norm_consts(mean, std)
        self.register_buffer("norm_scale", norm_scale, persistent=False)
        self.register_buffer("norm_shift", norm_shift, persistent=False)
        # host copies of the per-batch constants: building them never waits for a GPU
        self._host = {"scale": norm_scale.numpy(), "shift": norm_shift.numpy()}
        if self.pca_std > 0:
            self._host["eigval"] = np.asarray(pca_eigval, dtype=np.float32).reshape(3)
            self._host["eigvec"] = np.asarray(pca_eigvec, dtype=np.float32).reshape(3, 3)

    def extra_repr(self) -> str:
        return (
            f"kind={self.kind!r}, out_size={self.out_size}, flip={self.flip}, pca_std={self.pca_std}, "
            f"cutout={self.cutout}"
        )

    # -------------------------------------------------------------------------------------------- windows
    def _windows(self, n: int, h: int, w: int, g: torch.Generator):
        """Per-image source windows (top, left, height, width) as float64 (B,) arrays, drawn from g."""
        H, W = float(h), float(w)
        if self.kind == "pad-crop-flip":
            shift = torch.randint(0, 2 * self.pad + 1, (2, n), generator=g).numpy().astype(np.float64) - self.pad
            return shift[0], shift[1], np.full(n, H), np.full(n, W)
        if self.kind == "random-resized-crop":
            return random_resized_crop_boxes(n, h, w, g, self.scale, self.ratio)
        if self.kind in ("scale-jitter", "resize-crop"):
            lo, hi = (j * self.out_size / 224.0 for j in self.jitter)
            u = torch.rand((3, n), generator=g, dtype=torch.float64).numpy()
            S = np.maximum(lo + u[0] * (hi - lo), self.out_size)  # the shorter side after the (virtual) resize
            ext = self.out_size * min(H, W) / S  # the out_size crop, measured in source pixels
            return u[1] * (H - ext), u[2] * (W - ext), ext, ext.copy()
        if self.kind == "none":
            return np.zeros(n), np.zeros(n), np.full(n, H), np.full(n, W)
        s = min(H, W)  # "center"
        return np.full(n, (H - s) / 2), np.full(n, (W - s) / 2), np.full(n, s), np.full(n, s)

    # -------------------------------------------------------------------------------------------- forward
    def forward(
        self, images: torch.Tensor, generator: torch.Generator, mirror: np.ndarray | None = None
    ) -> torch.Tensor:
        """mirror: (B,) bool flips decided by the caller (e.g. `views.AlternatingFlip`); none drawn then."""
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 (B, H, W, C) images, got {images.dtype} {tuple(images.shape)}")
        n, h, w, c = images.shape
        windows = self._windows(n, h, w, generator)
        if mirror is None and self.flip:
            mirror = (torch.rand(n, generator=generator) < 0.5).numpy()
        host = self._host
        scale = host["scale"] if host["scale"].size != 1 else np.repeat(host["scale"], c)
        shift = host["shift"] if host["shift"].size != 1 else np.repeat(host["shift"], c)
        scale, shift = scale[:c], np.repeat(shift[None, :c], n, axis=0)
        if self.pca_std > 0 and c == 3:
            alpha = torch.randn((n, 3), generator=generator).numpy() * self.pca_std  # AlexNet: alpha ~ N(0, pca_std)
            rgb = (alpha * host["eigval"]) @ host["eigvec"].T  # eigvec @ (alpha * eigval), [0, 1] units
            shift = shift + rgb * scale * 255.0  # -> normalised units
        recycled = None
        if getattr(_sampler(images.device, self.backend), "__name__", "") == "resample":  # native: recycled buffer
            recycled = self._output_buffer((n, c, self.out_size, self.out_size))
        out = resample_windows(
            images,
            windows,
            self.out_size,
            mirror=mirror,
            scale=scale,
            shift=shift,
            zero_pad=self.kind == "pad-crop-flip" and self.pad_mode == "zero",
            reflect=self.kind == "pad-crop-flip" and self.pad_mode == "reflect",
            backend=self.backend,
            out=recycled,
        )
        return self._cut_out(out, generator) if self.cutout else out

    def _cut_out(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Zero one cutout x cutout square per image of x (B, C, S, S), its corner drawn from g (in place)."""
        n, size, k = x.shape[0], x.shape[-1], self.cutout
        corner = torch.randint(0, size - k + 1, (2, n, 1), generator=g).to(x.device)  # top and left, pixels
        pos = torch.arange(size, device=x.device)
        rows = (pos >= corner[0]) & (pos < corner[0] + k)  # (B, S)
        cols = (pos >= corner[1]) & (pos < corner[1] + k)
        return x.masked_fill_((rows[:, :, None] & cols[:, None, :])[:, None], 0.0)

    def _output_buffer(self, shape: tuple[int, ...]) -> torch.Tensor | None:
        """A previous output tensor that nothing references any more, else a new one (two are kept).

        Why: a fresh 50 MB CPU tensor per batch costs more in page faults than the resampling itself. Reuse is
        safe because it happens only when the caller has dropped every reference (the tensor and any views, e.g.
        an autograd graph that saved it), checked with Python's and torch's storage reference counts. Two are
        kept because `out = augment(x, g)` in a loop still holds the previous batch during the call.
        """
        spares = self.__dict__.setdefault("_spares", [])
        try:
            for i in range(len(spares)):
                if tuple(spares[i].shape) == shape and _only_in_list(spares, i):
                    return spares[i]
            spares.append(torch.empty(shape, dtype=torch.float32))
            if len(spares) > 2:
                spares.pop(0)
            return spares[-1]
        except Exception:  # a private counter missing in some torch version: no reuse
            self.__dict__.pop("_spares", None)
            return None

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state.pop("_spares", None)
        return state


# ------------------------------------------------------------------------------------------------ evaluation


def ten_crop(images_float_nchw: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, 10, C, size, size): four corners and centre, then the same five of the mirrored image.

    The order matches torchvision.transforms.functional.ten_crop (tl, tr, bl, br, centre; flipped tl, ...).
    """
    x = images_float_nchw
    h, w = x.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"crop size {size} is larger than the images ({h}x{w})")
    ct, cl = (h - size) // 2, (w - size) // 2
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), (ct, cl)]
    five = [x[..., t : t + size, l : l + size] for t, l in corners]
    mirrored = x.flip(-1)
    five += [mirrored[..., t : t + size, l : l + size] for t, l in corners]
    return torch.stack(five, dim=1)


class EvalTransform(nn.Module):
    """uint8 (B, H, W, C) -> normalised float32 (B, C, out, out) centre crops, or (B, K, C, out, out) for crops=K > 1.

    crops=2: the centre crop and its mirror (flip test-time augmentation); crops=10: corners, centre and mirrors.

    resize: resize the shorter side to this first (resample.resize_shorter, the decoders' resampler), e.g. 256 for
    224 crops; None keeps the stored size (images smaller than out_size are scaled up).
    """

    def __init__(
        self, out_size: int, mean: Sequence[float], std: Sequence[float], *, crops: int = 1, resize: int | None = None
    ) -> None:
        super().__init__()
        if crops not in (1, 2, 10):
            raise ValueError(f"crops must be 1, 2 or 10, got {crops}")
        self.out_size, self.crops, self.resize = int(out_size), crops, resize
        norm_scale, norm_shift = _norm_consts(mean, std)
        self.register_buffer("norm_scale", norm_scale, persistent=False)
        self.register_buffer("norm_shift", norm_shift, persistent=False)

    def extra_repr(self) -> str:
        return f"out_size={self.out_size}, crops={self.crops}, resize={self.resize}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 (B, H, W, C) images, got {images.dtype} {tuple(images.shape)}")
        x = images.permute(0, 3, 1, 2)  # uint8 NCHW view: resizing happens on uint8, as decoding does
        if self.resize is not None:
            x = resize_shorter(x, int(self.resize))
        if min(x.shape[-2:]) < self.out_size:  # smaller than the crop: scale up
            x = resize_shorter(x, self.out_size)
        if self.crops != 10:
            x = center_crop(x, self.out_size)
        c = x.shape[1]
        x = x.float() * _per_channel(self.norm_scale, c).view(1, c, 1, 1) + _per_channel(self.norm_shift, c).view(
            1, c, 1, 1
        )
        if self.crops == 10:
            return ten_crop(x, self.out_size).contiguous()
        return torch.stack([x, x.flip(-1)], 1) if self.crops == 2 else x.contiguous()


class MultiScaleEval(nn.Module):
    """Several EvalTransforms (one per shorter-side `resizes` value) stacked as views: (B, V, C, out, out).

    V = len(resizes) * crops; average the model's softmax over dim 1 (VGG's multi-scale, dense-free evaluation).
    """

    def __init__(
        self, out_size: int, mean: Sequence[float], std: Sequence[float], *, resizes: Sequence[int], crops: int = 1
    ) -> None:
        super().__init__()
        self.views = nn.ModuleList(EvalTransform(out_size, mean, std, crops=crops, resize=r) for r in resizes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        outs = [v(images) for v in self.views]
        return torch.cat([o if o.dim() == 5 else o[:, None] for o in outs], dim=1)
