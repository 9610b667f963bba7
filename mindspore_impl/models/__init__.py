"""Importing this package registers every network factory (the registry's decorators run on import)."""
from mindspore_impl.models import animeganv2  # noqa: F401
from mindspore_impl.models import animeganv2_port  # noqa: F401
from mindspore_impl.models import autoencoder  # noqa: F401
from mindspore_impl.models import cyclegan, pix2pix, pix2pixhd  # noqa: F401
from mindspore_impl.models import acgan  # noqa: F401
from mindspore_impl.models import stylegan2  # noqa: F401
from mindspore_impl.models import frame_predictor  # noqa: F401
