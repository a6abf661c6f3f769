"""The plugin module named by the entry point."""

from dcbench.plugins import hookimpl

dcbench_contract = "1"


@hookimpl
def dcbench_register_datasets(registry):
    registry.add(
        "csv",
        "dcbench_csvdata.reader:load_csv",
        "One CSV of boxes (image,split,x1,y1,x2,y2,label): csv:FILE.csv (example plugin).",
    )
