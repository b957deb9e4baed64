"""Vision Transformer (Dosovitskiy et al., ICLR 2021): ViT-B/16 and a small ViT for 32x32 images.

Names follow torchvision's `VisionTransformer` (conv_proj, class_token, encoder.pos_embedding,
encoder.layers.encoder_layer_i.{ln_1,self_attention,ln_2,mlp}, encoder.ln, heads.head) so its
weights load unchanged. Attention runs through `scaled_dot_product_attention` (fused kernels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ilsvrc.models.registry import ModelCard, register


class SelfAttention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter names (in_proj_*, out_proj)."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden dim {dim} is not divisible by {num_heads} heads")
        self.num_heads, self.dropout = num_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape  # (B, T, D)
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_dim: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = SelfAttention(dim, num_heads, attention_dropout)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout)
        )
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.self_attention(self.ln_1(x)))
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(
        self, seq_len: int, depth: int, dim: int, num_heads: int, mlp_dim: int, dropout: float, attention_dropout: float
    ) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_len, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential()
        for i in range(depth):
            self.layers.add_module(
                f"encoder_layer_{i}", EncoderBlock(dim, num_heads, mlp_dim, dropout, attention_dropout)
            )
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = self.pos_embedding
        if x.shape[1] != pos.shape[1]:
            pos = _resize_pos_embedding(pos, x.shape[1])
        return self.ln(self.layers(self.dropout(x + pos)))


def _resize_pos_embedding(pos: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Bicubic interpolation of the patch grid's position embeddings for another input size (ViT, 3.2)."""
    cls, grid = pos[:, :1], pos[:, 1:]
    old, new = math.isqrt(grid.shape[1]), math.isqrt(seq_len - 1)
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new, new), mode="bicubic", align_corners=False)
    return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, new * new, -1)], 1)


class VisionTransformer(nn.Module):
    def __init__(
        self,
        *,
        image_size: int,
        patch_size: int,
        depth: int,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.patch_size, self.hidden_dim = patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(in_chans, hidden_dim, patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        seq_len = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(seq_len, depth, hidden_dim, num_heads, mlp_dim, dropout, attention_dropout)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(hidden_dim, num_classes))
        self.num_classes, self.num_features = num_classes, hidden_dim
        fan_in = in_chans * patch_size * patch_size
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        nn.init.zeros_(self.heads.head.weight)  # section 3.1 / appendix: zero-initialised head
        nn.init.zeros_(self.heads.head.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.patch_size or w % self.patch_size or h != w:
            raise ValueError(f"ViT input must be square with sides a multiple of {self.patch_size}, got {h}x{w}")
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # (B, T, D)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], 1)
        return self.encoder(x)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(self.forward_features(x))


_PAPER = (
    "Dosovitskiy et al. An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale. "
    "ICLR 2021 (arXiv 2010.11929)"
)


def vit_b16(*, num_classes: int = 1000, in_chans: int = 3, image_size: int = 224, **kw) -> VisionTransformer:
    return VisionTransformer(
        image_size=image_size,
        patch_size=16,
        depth=12,
        num_heads=12,
        hidden_dim=768,
        mlp_dim=3072,
        num_classes=num_classes,
        in_chans=in_chans,
        **kw,
    )


def vit_tiny(*, num_classes: int = 10, in_chans: int = 3, image_size: int = 32, **kw) -> VisionTransformer:
    return VisionTransformer(
        image_size=image_size,
        patch_size=4,
        depth=6,
        num_heads=3,
        hidden_dim=192,
        mlp_dim=768,
        num_classes=num_classes,
        in_chans=in_chans,
        **kw,
    )


register(
    ModelCard(
        name="vit_b16",
        family="vit",
        paper=_PAPER,
        year=2020,
        ilsvrc="not an ILSVRC entry (the 2021 state of the art, pre-trained on JFT-300M: ViT-H/14 88.55% top-1); "
        "torchvision's ViT-B/16 weights (DeiT-style recipe, ImageNet-1k only) 81.07% top-1",
        input_size=224,
        params=86_567_656,
        macs=17_563_828_224,
        torchvision="vit_b_16",
        min_input_size=16,
        variant="ViT-B/16 (12 layers, 768 wide, 12 heads, MLP 3072), torchvision layout",
    ),
    vit_b16,
)
register(
    ModelCard(
        name="vit_tiny",
        family="vit",
        paper=_PAPER,
        year=2020,
        ilsvrc="not an ILSVRC entry (a small ViT for 32x32)",
        input_size=32,
        params=None,
        min_input_size=4,
        num_classes=10,
        variant="ViT for 32x32 inputs: 4x4 patches, 6 layers, 192 wide, 3 heads, MLP 768 (not in the paper)",
    ),
    vit_tiny,
)
