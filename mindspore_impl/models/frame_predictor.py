"""Future-frame predictor for manga → anime: (current frame, its manga page, optionally k earlier frames) → the
next frame.

A U-Net over the frames whose features are modulated by a code read from the whole page:
- frames: the current frame and the k earlier ones are stacked on the channel axis; `depth` stride-2 levels with
  skip connections (nearest upsampling, then convs), so motion of a few pixels per level is within reach;
- page: a strided conv encoder over the page at a fixed `page_size`, flattened through a Dense layer into a code
  of `code` numbers. Fixed size and a Dense layer (not a global average) on purpose: *where* things are on the page
  (which panel, which way an arrow points) is the information, and pooling would throw position away. The study
  reshaped raw page pixels into channels, which scrambled exactly that (§(c) of the reference notes);
- FiLM: every U-Net level's features f become f · (1 + γ(code)) + β(code), γ and β per channel, so the page decides
  which motion filters fire everywhere in the frame;
- output: with `residual` (the default, chosen by measurement, docs/manganime_predictor.md) the network predicts
  the change, next = clamp(frame + Δ, -1, 1), and starts out near copy-last-frame (Δ's layer is initialised small);
  without it, next = tanh(·), which must first learn to reproduce the frame.

Values in [-1, 1]; frame sides multiples of 2**depth; the page is grey (or RGB) at page_size × page_size.
"""
from __future__ import annotations

from mindspore import nn

from mindspore_impl.layers import Clamp, Concat, Conv2d, ConvNormAct, Dense, Flatten, LeakyReLU, Reshape, Tanh, \
    Upsample
from mindspore_impl.registry import MODELS
from runtime.interface import Interface, Port, image_port
from runtime.predictor import FRAME, PAGE, previous_names

OUTPUT = "next_frame"


def _conv(in_ch: int, out_ch: int, stride: int = 1, pad: str = "reflect") -> ConvNormAct:
    return ConvNormAct(in_ch, out_ch, kernel=3, stride=stride, padding=1, pad=pad, norm="none", act="lrelu",
                       bias=True)


class FiLM(nn.Cell):
    """f · (1 + γ) + β with per-channel γ, β computed from the page code [N, code]."""

    def __init__(self, code: int, channels: int):
        super().__init__()
        # He init, not N(0, 0.02): with near-zero γ, β the page code gets almost no gradient at first, and short
        # runs learned to ignore the page (measured: 200 tiny steps, held-out MSE 0.50 vs 0.45 x copy-last).
        self.scale = Dense(code, channels, init="he")
        self.shift = Dense(code, channels, init="he")
        self.as_map = Reshape((-1, channels, 1, 1))

    def construct(self, x, code):
        return x * (1.0 + self.as_map(self.scale(code))) + self.as_map(self.shift(code))


class PageEncoder(nn.Cell):
    """page [N, C, P, P] → code [N, code]: `depth` stride-2 convs, flatten, Dense, LeakyReLU."""

    def __init__(self, channels: int, page_size: int, width: int, depth: int, code: int):
        super().__init__()
        layers, c = [], channels
        for i in range(depth):
            out = width * 2 ** min(i, 2)
            layers.append(_conv(c, out, stride=2, pad="zero"))
            c = out
        self.convs = nn.SequentialCell(layers)
        side = page_size // 2 ** depth
        self.flatten = Flatten()
        self.dense = Dense(c * side * side, code, init="he")
        self.act = LeakyReLU(0.2)

    def construct(self, page):
        return self.act(self.dense(self.flatten(self.convs(page))))


class UNetLevel(nn.Cell):
    """One U-Net level: down (stride 2), the inner levels, FiLM, nearest ×2 up, concat with the skip, convs."""

    def __init__(self, outer: int, inner: int, code: int, inner_level: "UNetLevel | None" = None):
        super().__init__()
        self.down = nn.SequentialCell([_conv(outer, inner, stride=2), _conv(inner, inner)])
        self.inner = inner_level
        self.film = FiLM(code, inner)
        self.up = Upsample(2, "nearest")
        self.concat = Concat(1)
        self.merge = nn.SequentialCell([_conv(inner + outer, outer), _conv(outer, outer)])

    def construct(self, x, code):
        h = self.down(x)
        if self.inner is not None:
            h = self.inner(h, code)
        h = self.film(h, code)
        return self.merge(self.concat(x, self.up(h)))


class FramePredictor(nn.Cell):
    """(frame, page, previous_1 … previous_k) → next frame; see the module docstring.

    Args:
        channels: frame channels (3, RGB).
        context: k, the earlier frames taken besides the current one (inputs previous_1 … previous_k).
        width: channels of the first U-Net level (doubling per level, capped at 8·width).
        depth: stride-2 levels; frame sides must be multiples of 2**depth.
        page_size: the page's side as the network reads it (the data and runtime resize pages to it).
        page_channels: 1 (grey manga) or 3.
        page_width, page_depth: the page encoder's first width and number of stride-2 convs
            (page_size must be a multiple of 2**page_depth).
        code: length of the page code.
        residual: predict the change (next = clamp(frame + Δ)) rather than the frame itself.
    """

    def __init__(self, channels: int = 3, context: int = 0, width: int = 16, depth: int = 3, page_size: int = 64,
                 page_channels: int = 1, page_width: int = 8, page_depth: int = 4, code: int = 32,
                 residual: bool = True):
        super().__init__()
        if channels != 3:
            raise ValueError(f"channels must be 3 (RGB frames), got {channels}")
        if page_channels not in (1, 3):
            raise ValueError(f"page_channels must be 1 or 3, got {page_channels}")
        if context < 0 or depth < 1 or width < 1 or code < 1 or page_depth < 1:
            raise ValueError(f"need context >= 0 and depth, width, code, page_depth >= 1 (got context={context}, "
                             f"depth={depth}, width={width}, code={code}, page_depth={page_depth})")
        if page_size % 2 ** page_depth:
            raise ValueError(f"page_size {page_size} must be a multiple of 2**page_depth = {2 ** page_depth}")
        self.channels, self.context, self.depth, self.residual = channels, context, depth, residual
        self.page_size, self.page_channels = page_size, page_channels
        widths = [min(width * 2 ** i, 8 * width) for i in range(depth + 1)]
        level = None
        for i in range(depth, 0, -1):  # innermost first
            level = UNetLevel(widths[i - 1], widths[i], code, level)
        self.frames = Concat(1)
        self.stem = nn.SequentialCell([_conv(channels * (context + 1), widths[0]), _conv(widths[0], widths[0])])
        self.unet = level
        self.film = FiLM(code, widths[0])
        self.page_encoder = PageEncoder(page_channels, page_size, page_width, page_depth, code)
        self.head = Conv2d(widths[0], channels, 1, bias=True, init="normal002")
        self.out = Clamp(-1.0, 1.0) if residual else Tanh()

    @property
    def size_multiple(self) -> int:
        return 2 ** self.depth

    @property
    def page_shape(self) -> tuple[int, int]:
        return self.page_size, self.page_size

    def interface(self) -> Interface:
        """frame, page (fixed page_size), previous_1 … previous_k → next_frame, all in [-1, 1]."""
        inputs = [image_port(FRAME, self.channels),
                  Port(PAGE, "image", ("batch", self.page_channels, self.page_size, self.page_size), range=(-1, 1))]
        inputs += [image_port(name, self.channels) for name in previous_names(self.context)]
        return Interface("predict", tuple(inputs), (image_port(OUTPUT, self.channels),),
                         size_multiple=self.size_multiple, metadata={"context": str(self.context)})

    def unclamped(self, frame, page, *previous):
        """The prediction before the output clamp (residual) / the tanh output (direct): what the training loss
        sees, so pixels pushed past ±1 still get a gradient back."""
        x = self.frames(frame, *previous) if self.context else frame
        code = self.page_encoder(page)
        h = self.film(self.unet(self.stem(x), code), code)
        delta = self.head(h)
        return frame + delta if self.residual else self.out(delta)

    def construct(self, frame, page, *previous):
        y = self.unclamped(frame, page, *previous)
        return self.out(y) if self.residual else y


@MODELS.register()
def frame_predictor(channels: int = 3, context: int = 0, width: int = 16, depth: int = 3, page_size: int = 64,
                    page_channels: int = 1, page_width: int = 8, page_depth: int = 4, code: int = 32,
                    residual: bool = True):
    return FramePredictor(channels=channels, context=context, width=width, depth=depth, page_size=page_size,
                          page_channels=page_channels, page_width=page_width, page_depth=page_depth, code=code,
                          residual=residual)
