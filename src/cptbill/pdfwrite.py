"""A small PDF writer for forms: text in the standard fonts, lines and boxes, in pure Python (runs in Pyodide)."""

from __future__ import annotations

import zlib

#: The standard PDF fonts this writer uses: every PDF reader has them, nothing is embedded.
FONTS = {"Courier": "F1", "Helvetica": "F2", "Helvetica-Bold": "F3"}


def _number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _string(text: str) -> str:
    """A PDF literal string in WinAnsi (Latin-1) encoding; other characters become '?'."""
    data = text.encode("latin-1", "replace").decode("latin-1")
    return "(" + data.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


class Canvas:
    """Pages of drawing operations, written out as one PDF (the same bytes for the same drawing)."""

    def __init__(self, width: float, height: float, title: str = "") -> None:
        self.width, self.height, self.title = width, height, title
        self._pages: list[list[str]] = []
        self._ops: list[str] = []
        self._font = ("F1", 12.0)

    # drawing state
    def save_state(self) -> None:
        self._ops.append("q")

    def restore_state(self) -> None:
        self._ops.append("Q")

    def stroke_rgb(self, r: float, g: float, b: float) -> None:
        self._ops.append(f"{_number(r)} {_number(g)} {_number(b)} RG")

    def fill_rgb(self, r: float, g: float, b: float) -> None:
        self._ops.append(f"{_number(r)} {_number(g)} {_number(b)} rg")

    def line_width(self, width: float) -> None:
        self._ops.append(f"{_number(width)} w")

    def font(self, name: str, size: float) -> None:
        self._font = (FONTS[name], size)

    # drawing
    def text(self, x: float, y: float, text: str) -> None:
        """Text with its baseline starting at (x, y), in points from the page's bottom left."""
        name, size = self._font
        self._ops.append(
            f"BT /{name} {_number(size)} Tf 1 0 0 1 {_number(x)} {_number(y)} Tm {_string(text)} Tj ET"
        )

    def rect(
        self, x: float, y: float, width: float, height: float, stroke: bool = True, fill: bool = False
    ) -> None:
        paint = "B" if stroke and fill else "f" if fill else "S"
        self._ops.append(f"{_number(x)} {_number(y)} {_number(width)} {_number(height)} re {paint}")

    def show_page(self) -> None:
        self._pages.append(self._ops)
        self._ops = []

    def bytes(self) -> bytes:
        """The PDF file: catalog, page tree, fonts, then each page and its content stream."""
        if self._ops or not self._pages:
            self.show_page()
        objects: list[bytes] = []
        fonts = " ".join(f"/{key} {4 + i} 0 R" for i, key in enumerate(FONTS.values()))
        kids = " ".join(f"{4 + len(FONTS) + 2 * i} 0 R" for i in range(len(self._pages)))
        objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
        objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(self._pages)} >>".encode())
        objects.append(f"<< /Title {_string(self.title)} /Producer (cptbill) >>".encode("latin-1"))
        for name in FONTS:
            objects.append(
                f"<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>".encode()
            )
        for i, ops in enumerate(self._pages):
            content = 4 + len(FONTS) + 2 * i + 1
            objects.append(
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_number(self.width)} {_number(self.height)}] "
                f"/Resources << /Font << {fonts} >> >> /Contents {content} 0 R >>".encode()
            )
            stream = zlib.compress("\n".join(ops).encode("latin-1"))
            objects.append(
                f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
                + stream
                + b"\nendstream"
            )
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
        out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
        out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 3 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
        return bytes(out)


__all__ = ["FONTS", "Canvas"]
