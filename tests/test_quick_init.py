"""quick_init: the faster constructor of Line and LineResult behaves as the dataclass's own."""

import dataclasses
import inspect

import pytest

from cptbill.models import Line, LineResult, quick_init


@pytest.mark.parametrize("cls", [Line, LineResult])
def test_same_signature_as_the_generated_init(cls: type) -> None:
    plain = dataclasses.dataclass(frozen=True, slots=True)(
        type(cls.__name__, (), {"__annotations__": dict(cls.__annotations__)} | _defaults(cls))
    )
    assert str(inspect.signature(cls)) == str(inspect.signature(plain))
    assert cls.__init__ is not plain.__init__


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def test_values_defaults_and_frozen() -> None:
    line = Line("Sessions", 7, payer="Aetna", minutes=30)
    assert (line.sheet, line.row, line.payer, line.minutes, line.client, line.notes) == (
        "Sessions", 7, "Aetna", 30, "", ()
    )  # fmt: skip
    assert line == Line(sheet="Sessions", row=7, payer="Aetna", minutes=30)
    assert dataclasses.replace(line, row=8).row == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.row = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        Line("Sessions")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Line("Sessions", 1, colour="red")  # type: ignore[call-arg]


def test_left_alone_where_it_cannot_speak_for_the_dataclass() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    generated = WithFactory.__init__
    assert quick_init(WithFactory).__init__ is generated
    assert WithFactory().items == []
