"""Importing this package registers every training family with `FAMILIES`."""
from mindspore_impl.families import animeganv2  # noqa: F401
from mindspore_impl.families import autoencoder  # noqa: F401
from mindspore_impl.families import cyclegan, pix2pix, pix2pixhd  # noqa: F401
from mindspore_impl.families import acgan  # noqa: F401
from mindspore_impl.families import stylegan2  # noqa: F401
from mindspore_impl.families import frame_predictor  # noqa: F401
