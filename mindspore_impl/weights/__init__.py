"""Weight importers: one module per (family, source format), each registering itself in `IMPORTERS`.

Importing this package registers them all; `mindspore_impl/import_weights.py` looks them up by family name.
A new family adds a module here and one import line below.
"""
from mindspore_impl.weights.base import (IMPORTERS, Importer, RenameTable, WeightImportError,  # noqa: F401
                                         apply_table, find_importer, register)
from mindspore_impl.weights import animeganv2_pt  # noqa: F401
from mindspore_impl.weights import animeganv2_mindspore_port  # noqa: F401
from mindspore_impl.weights import cyclegan_pt, pix2pix_pt, pix2pixhd_pt  # noqa: F401
from mindspore_impl.weights import acgan_pt  # noqa: F401
from mindspore_impl.weights import stylegan2_pkl  # noqa: F401
