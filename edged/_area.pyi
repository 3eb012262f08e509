# edged/_area.c: the exact area-resize kernel (edged.area builds its tables)
from typing import Any

def resize(src: Any, dst: Any, xs: Any, xw: Any, ys: Any, yw: Any, row: Any,
           total: int, /) -> None: ...
