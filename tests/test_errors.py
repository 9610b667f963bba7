"""runtime/errors.py: the one CLI error boundary (run_main) and the UserError family every layer's errors join."""
import pytest

from runtime.errors import ConversionError, UserError, first_line, run_main


def exit_status(main, argv=None) -> int:
    with pytest.raises(SystemExit) as exc:
        run_main(main, argv)
    return exc.value.code


def test_return_value_is_the_exit_status_and_argv_is_passed():
    seen = []

    def main(argv):
        seen.append(argv)
        return 3 if argv else None

    assert exit_status(main, ["--x"]) == 3 and exit_status(main) == 0
    assert seen == [["--x"], None]


def test_user_error_prints_its_first_line_and_exits_2(capsys):
    def main(argv):
        print("progress so far")
        raise ConversionError("model M.onnx failed on input [1, 3, 8, 8]\nTraceback-ish detail\nmore")

    assert exit_status(main) == 2
    captured = capsys.readouterr()
    assert captured.out == "progress so far\n"
    assert captured.err == "error: model M.onnx failed on input [1, 3, 8, 8]\n"


def test_empty_message_names_the_type(capsys):
    class EmptyError(UserError):
        pass

    def main(argv):
        raise EmptyError()

    assert exit_status(main) == 2 and capsys.readouterr().err == "error: EmptyError\n"
    assert first_line(ValueError("\n\n  second  \nthird")) == "second"


def test_interrupt_exits_130(capsys):
    def main(argv):
        raise KeyboardInterrupt

    assert exit_status(main) == 130 and capsys.readouterr().err == "error: interrupted\n"


def test_other_exceptions_are_bugs_and_propagate():
    def main(argv):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        run_main(main)


def test_every_layer_error_is_a_user_error():
    from datasets.animegan_data import DatasetError
    from datasets.demo_style import DemoDataError
    from datasets.edge_smooth import EdgeSmoothError
    from datasets.image_io import ImageReadError, ImageWriteError
    from datasets.manganime.errors import ManganimeError
    from datasets.manganime.tags import TagError
    from export.errors import ExportError, ParityError
    from mindspore_impl.checkpoint_io import CheckpointError
    from mindspore_impl.config import ConfigError
    from mindspore_impl.infer import InferError
    from mindspore_impl.models.vgg19 import VGGWeightsError
    from mindspore_impl.registry import RegistryError
    from mindspore_impl.style_transfer import StyleTransferError
    from mindspore_impl.trainer import TrainingError
    from mindspore_impl.weights import WeightImportError
    from runtime.interface import InterfaceError

    for cls in (ConversionError, DatasetError, DemoDataError, EdgeSmoothError, ImageReadError, ImageWriteError,
                ManganimeError, TagError, ExportError, ParityError, CheckpointError, ConfigError, InferError,
                VGGWeightsError, RegistryError, StyleTransferError, TrainingError, WeightImportError,
                InterfaceError):
        assert issubclass(cls, UserError), cls
    # the standard bases callers already catch are kept
    assert issubclass(ConfigError, ValueError) and issubclass(RegistryError, KeyError)
    assert issubclass(TrainingError, RuntimeError) and issubclass(InterfaceError, ValueError)
    assert str(RegistryError("unknown model 'x'")) == "unknown model 'x'"  # not KeyError's quoted repr


def test_registry_error_prints_unquoted(capsys):
    from mindspore_impl.registry import RegistryError

    def main(argv):
        raise RegistryError("unknown model 'x' (registered: a, b)")

    assert exit_status(main) == 2 and capsys.readouterr().err == "error: unknown model 'x' (registered: a, b)\n"
