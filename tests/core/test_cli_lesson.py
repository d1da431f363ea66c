"""``napari-segtools lesson``: trains a lesson and prints the notes' table."""

import pytest

pytest.importorskip("torch")

from napari_segtools import _cli  # noqa: E402


@pytest.fixture(autouse=True)
def lesson_command(monkeypatch):
    """The `lesson` sub-command as the console script registers it."""
    entry = ("napari_segtools._cli_lesson", "train one of the lecture notes' lessons")
    monkeypatch.setitem(_cli._SUBCOMMANDS, "lesson", _cli._SUBCOMMANDS.get("lesson", entry))


@pytest.fixture
def shown(monkeypatch):
    """The layers ``--open`` would show in napari, one list per call (no viewer opens)."""
    from napari_segtools import _cli_lesson

    calls = []
    monkeypatch.setattr(_cli_lesson, "_show", lambda layers, lesson: calls.append(layers))
    return calls


def test_receptive_field_prints_field_parameters_and_accuracy(capsys, shown):
    argv = ["lesson", "receptive-field", "--epochs", "1", "--seed", "2", "--open"]
    assert _cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ring task, 200 test images, 1 epochs"
    assert lines[1].split() == ["network", "field", "(pixels)", "parameters", "accuracy"]
    assert lines[2].split()[:5] == ["plain", "7", "x", "7", "1257"]
    assert lines[3].split()[:5] == ["dilated", "15", "x", "15", "1257"]
    assert all(0 <= float(line.split()[-1]) <= 1 for line in lines[2:4])
    # --open: the test images, truth and each network's calls, as the "Lessons" sample
    (layers,) = shown
    assert [(kwargs["name"], kind) for _, kwargs, kind in layers] == [
        ("ring task test images", "image"),
        ("ring task truth", "labels"),
        ("plain network (field 7 px): malignant", "labels"),
        ("dilated network (field 15 px): malignant", "labels"),
    ]
    assert {data.shape for data, *_ in layers} == {(4 * 33 - 1, 6 * 33 - 1)}


def test_class_imbalance_prints_loss_and_dice_per_epoch(capsys, shown):
    assert _cli.main(["lesson", "class-imbalance", "--epochs", "2", "--open"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ring task, 0.44% positive pixels")
    assert lines[1].split() == ["BCE", "weighted", "BCE", "Dice", "loss"]
    assert lines[2].split() == ["epoch"] + ["loss", "Dice"] * 3
    assert [line.split()[0] for line in lines[3:]] == ["1", "2"]
    # --open: the loss runs' calls, named with the last Dice printed, the Dice loss shown
    (layers,) = shown
    last = lines[-1].split()
    assert [kwargs["name"] for _, kwargs, _ in layers[2:]] == [
        f"trained with {run}: malignant (test Dice {float(dice):.2f})"
        for run, dice in zip(("BCE", "weighted BCE", "Dice loss"), last[2::2], strict=True)
    ]
    assert [kwargs["visible"] for _, kwargs, _ in layers[2:]] == [False, False, True]


def test_bad_lesson_or_setting_is_refused(capsys):
    with pytest.raises(SystemExit):
        _cli.main(["lesson", "pooling"])
    assert "invalid choice: 'pooling'" in capsys.readouterr().err
    assert _cli.main(["lesson", "class-imbalance", "--epochs", "0"]) == 2
    assert "`epochs` must be >= 1" in capsys.readouterr().err
