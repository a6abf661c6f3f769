"""Built-in datasets, registered through the same hook a third-party plugin uses."""

from dcbench.plugins import hookimpl


@hookimpl
def dcbench_register_datasets(registry):
    registry.add(
        "shapes",
        "dcbench.data.loaders:load_shapes",
        "Built-in generated dataset: 6 shape classes on cluttered backgrounds (default).",
    )
    registry.add("voc", "dcbench.data.loaders:load_voc", "PASCAL VOC XML folder: voc:DIR")
    registry.add("coco", "dcbench.data.loaders:load_coco", "COCO instances JSON: coco:FILE.json[?images=DIR]")
    registry.add("yolo", "dcbench.data.loaders:load_yolo", "YOLO txt folder with class names: yolo:DIR")
    registry.add(
        "voc0712", "dcbench.data.loaders:load_voc0712", "VOC07+12 trainval / VOC07 test (DCOD paper): voc0712:ROOT"
    )
    registry.add(
        "coco2017", "dcbench.data.loaders:load_coco2017", "COCO train2017 / val2017 (DCOD paper): coco2017:ROOT"
    )
