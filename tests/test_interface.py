"""runtime/interface.py: the port and interface contract round-trips through JSON and refuses inconsistent specs."""
import pytest

from runtime.interface import Interface, InterfaceError, Port, image_port, image_to_image

HAIR, EYES = ("orange", "white", "aqua"), ("black", "blue")


def sampler():
    return Interface("sample", (Port("z", "noise", ("batch", 8)),
                                Port("tags", "onehot", ("batch", 5), groups=(("hair", HAIR), ("eye", EYES))),
                                Port("truncation_psi", "scalar", (), default=1.0)),
                     (Port("image", "image", ("batch", 3, 16, 16), range=(-1, 1)),))


def test_interfaces_round_trip_through_json():
    for spec in (sampler(), image_to_image("colorize", in_channels=1, size_multiple=32)):
        back = Interface.from_json(spec.to_json())
        assert back == spec
    assert sampler().port("tags").groups == (("hair", HAIR), ("eye", EYES))
    assert image_to_image(in_channels=1).inputs[0].channels == 1


def test_legacy_task_name_reads_as_stylize():
    legacy = image_to_image().to_json().replace('"stylize"', '"image2image"')
    assert Interface.from_json(legacy).task == "stylize"


@pytest.mark.parametrize("make, message", [
    (lambda: Port("x", "image", ("batch", 2, "h", "w"), range=(-1, 1)), "1 or 3 channels"),
    (lambda: Port("x", "image", ("batch", 3, "h", "w")), "value range"),
    (lambda: Port("z", "noise", ("batch",)), "rank 2"),
    (lambda: Port("t", "onehot", ("batch", 4), groups=(("hair", HAIR),)), "3 values but the port is 4 wide"),
    (lambda: Port("p", "scalar", ()), "default"),
    (lambda: Port("p", "blob", ()), "unknown kind"),
    (lambda: Interface("draw", (image_port("a"),), (image_port("b"),)), "unknown task"),
    (lambda: Interface("sample", (image_port("a"),), (image_port("b"),)), "no image input"),
    (lambda: Interface("stylize", (Port("z", "noise", ("batch", 4)),), (image_port("b"),)), "one image"),
    (lambda: Interface("stylize", (image_port("a"),), (image_port("a"),)), "unique"),
])
def test_inconsistent_specs_are_refused(make, message):
    with pytest.raises(InterfaceError, match=message):
        make()


@pytest.mark.parametrize("text", ["not json", '{"task": "sample"}', '{"task": "sample", "inputs": [{}], "outputs": []}'])
def test_malformed_metadata_is_an_interface_error(text):
    with pytest.raises(InterfaceError):
        Interface.from_json(text)
