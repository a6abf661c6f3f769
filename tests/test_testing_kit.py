"""The plugin authors' kit holds for the built-ins too (and would catch a broken method)."""

import pytest

from dcbench.testing import check_dataset, check_method


@pytest.mark.parametrize("name", ["random", "uniform"])
def test_builtin_selection_methods_pass_the_kit(name, tmp_path):
    check_method(name, tmp_path)


@pytest.mark.slow
def test_dcod_passes_the_kit_with_a_smoke_teacher(tmp_path):
    pytest.importorskip("ultralytics")
    check_method("dcod", tmp_path, budgets=(2,))  # the kit trains the teacher DCOD inverts


def test_builtin_dataset_formats_pass_the_kit(tiny_voc):
    ds = check_dataset("voc", str(tiny_voc))
    assert len(ds) == 4


class _Greedy:
    """Breaks the contract: returns one image more than the budget."""

    name = "greedy"
    requires_teacher = False

    def describe(self):
        return {}

    def condense(self, train_set, budget, *, context):
        from dcbench.methods.selection import selection_to_condensed

        return selection_to_condensed(
            train_set,
            list(range(budget + 1)),
            method="greedy",
            options={},
            budget=budget + 1,
            context=context,
            started=0.0,
        )


def test_the_kit_catches_a_method_that_ignores_the_budget(tmp_path):
    from dcbench.plugins import hookimpl

    class Plugin:
        @hookimpl
        def dcbench_register_methods(self, registry):
            registry.add("greedy", _Greedy, "takes one too many")

    with pytest.raises(AssertionError, match="budget 1: the method returned 2 images"):
        check_method("greedy", tmp_path, plugin=Plugin())


@pytest.mark.slow
def test_the_builtin_yolo_backend_passes_check_detector(tmp_path):
    pytest.importorskip("ultralytics")
    from dcbench.testing import check_detector

    check_detector("yolov3-tiny", tmp_path)


def test_check_dataset_takes_a_plugin_that_is_not_installed(tmp_path):
    from dcbench.plugins import hookimpl
    from dcbench.testing import check_dataset
    from tests.conftest import write_png, write_voc_xml

    write_png(tmp_path / "JPEGImages" / "a.png")
    write_voc_xml(tmp_path / "Annotations" / "a.xml", "a.png", [("cat", 1, 1, 20, 20)])

    class Plugin:
        @hookimpl
        def dcbench_register_datasets(self, registry):
            registry.add("my-voc", "dcbench.data.loaders:load_voc", "VOC under another name")

    assert len(check_dataset("my-voc", str(tmp_path), plugin=Plugin())) == 1
