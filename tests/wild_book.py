"""Workbooks in the shapes real spreadsheet programs save, zipped from hand-written parts.

The parts reproduce what Excel 365 (Windows and Mac), the Open XML SDK (prefixed `x:` tags),
Google Sheets and other producers write: `mc:Ignorable` with x14ac/xr attributes and `xr:uid`s,
`spans` and `x14ac:dyDescent` on rows, shared strings with rich-text runs, a date column styled
with a built-in date format, an Excel table with an autoFilter (and optionally a totals row),
`<cols>` widths, a merged range elsewhere, a hyperlink, a legacy (VML) note, `calcChain.xml`,
styles with `dxfs` and an `extLst`, `mx:PLV` in the sheet view. They are written from the
ECMA-376 schema and the markup these programs save (no file is copied from elsewhere); each
option reproduces one shape seen in workbooks saved by those programs. The Google Sheets root
element, sheetPr and sheetFormatPr follow the exports quoted in public test suites of
spreadsheet libraries (e.g. ExcelJS, SheetJS); only their shape is reproduced here, not their text.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PR = "http://schemas.openxmlformats.org/package/2006/relationships"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
EXCEL_NS = (
    f'xmlns:mc="{MC}" mc:Ignorable="x14ac xr xr2 xr3" '
    'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" '
    'xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision" '
    'xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2" '
    'xmlns:xr3="http://schemas.microsoft.com/office/spreadsheetml/2016/revision3"'
)
HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'


@dataclass
class Shape:
    """Which real-world shapes the workbook takes."""

    prefix: str = ""  # "x:" as the Open XML SDK writes
    row_refs: bool = True  # rows carry r="n"
    cell_refs: bool = True  # cells carry r="A1"
    dimension: bool = True
    filter_mode: bool = True  # <sheetPr filterMode="1"> with a sheet autoFilter
    table: bool = True
    totals_row: bool = False
    inline_strings: bool = False  # text as inline strings (not shared)
    date1904: bool = False
    mac: bool = False  # mx:PLV in the sheet view, as Mac Excel saves
    owned: bool = False  # Code/Units/Expected/Flags columns already there
    shared_minutes: bool = True  # Minutes as a shared formula filled down (cached results kept)
    wide_sparse: int = 0  # a value this many columns out on row 2
    styled_blanks: bool = False  # empty formatted cells where the owned columns will go (E:H)
    google: bool = False  # the root, sheetPr and sheetFormatPr Google Sheets writes (no dimension)
    extra_parts: dict[str, bytes] = field(default_factory=dict)


CLIENTS = ["Ann", "Bo", "Cy"]
MINUTES = [30, 45, 60]
DATES_1900 = [46329, 46330, 46331]  # 2026-11-03 .. 05


def _strings(shape: Shape) -> list[str]:
    header = ["Date", "Client", "Payer", "Minutes"]
    if shape.owned:
        header += ["Code", "Units", "Expected", "Flags"]
    return [*header, *CLIENTS, "Aetna", "Payer", "Accepts", "Rate 97124", "97124", "Private note"]


def _text_cell(shape: Shape, ref: str, text: str, style: int = 0) -> str:
    p = shape.prefix
    r = f' r="{ref}"' if shape.cell_refs else ""
    s = f' s="{style}"' if style else ""
    if shape.inline_strings:
        return f'<{p}c{r}{s} t="inlineStr"><{p}is><{p}t>{text}</{p}t></{p}is></{p}c>'
    index = _strings(shape).index(text)
    return f'<{p}c{r}{s} t="s"><{p}v>{index}</{p}v></{p}c>'


def _number_cell(shape: Shape, ref: str, value: float, style: int = 0, formula: str = "") -> str:
    p = shape.prefix
    r = f' r="{ref}"' if shape.cell_refs else ""
    s = f' s="{style}"' if style else ""
    return f"<{p}c{r}{s}>{formula}<{p}v>{value}</{p}v></{p}c>"


def _row(shape: Shape, number: int, cells: str, last_column: int) -> str:
    p = shape.prefix
    r = f'r="{number}" ' if shape.row_refs else ""
    return f'<{p}row {r}spans="1:{last_column}" x14ac:dyDescent="0.25">{cells}</{p}row>'


def sheet_xml(shape: Shape) -> str:
    p = shape.prefix
    width = 8 if shape.owned else 4
    last = "H" if shape.owned else "D"
    header = ["Date", "Client", "Payer", "Minutes"] + (
        ["Code", "Units", "Expected", "Flags"] if shape.owned else []
    )
    rows = [
        _row(
            shape,
            1,
            "".join(_text_cell(shape, f"{chr(65 + i)}1", h, 2) for i, h in enumerate(header)),
            width,
        )
    ]
    dates = [d - 1462 for d in DATES_1900] if shape.date1904 else DATES_1900
    for i, (client, minutes, date) in enumerate(zip(CLIENTS, MINUTES, dates, strict=True)):
        n = i + 2
        if shape.shared_minutes:
            formula = (
                f'<{p}f t="shared" ref="D2:D4" si="0">{minutes}*1</{p}f>'
                if i == 0
                else f'<{p}f t="shared" si="0"/>'
            )
        else:
            formula = ""
        cells = (
            _number_cell(shape, f"A{n}", date, 1)
            + _text_cell(shape, f"B{n}", client)
            + _text_cell(shape, f"C{n}", "Aetna")
            + _number_cell(shape, f"D{n}", minutes, 0, formula)
        )
        if shape.styled_blanks:
            p_ = shape.prefix
            cells += "".join(f'<{p_}c r="{c}{n}" s="3"/>' for c in "EFGH")
        if shape.wide_sparse and n == 2 and shape.cell_refs:
            from cptbill.ooxml import column_letters

            cells += _text_cell(shape, f"{column_letters(shape.wide_sparse)}2", "Private note")
        rows.append(_row(shape, n, cells, width))
    # A note below the data, in a merged range off to the side.
    rows.append(_row(shape, 7, _text_cell(shape, "J7", "Private note"), 10))
    sheet_pr = (
        f'<{p}sheetPr filterMode="1"><{p}pageSetUpPr fitToPage="1"/></{p}sheetPr>'
        if shape.filter_mode
        else f'<{p}sheetPr codeName="Sheet1"/>'
    )
    dimension = f'<{p}dimension ref="A1:J7"/>' if shape.dimension else ""
    mac = ' xmlns:mx="http://schemas.microsoft.com/office/mac/excel/2008/main"' if shape.mac else ""
    plv = (
        f'<{p}extLst><{p}ext uri="{{64002731-A6B0-56B0-2670-7721B7C09600}}">'
        '<mx:PLV Mode="0" OnePage="0" WScale="0"/></' + p + "ext></" + p + "extLst>"
        if shape.mac
        else ""
    )
    auto_filter = (
        ""
        if shape.table or not shape.filter_mode
        else f'<{p}autoFilter ref="A1:{last}4"><{p}filterColumn colId="2"><{p}filters><{p}filter val="Aetna"/></{p}filters></{p}filterColumn></{p}autoFilter>'
    )
    xmlns = f'xmlns:x="{MAIN}"' if p == "x:" else f'xmlns="{MAIN}"'
    xml = (
        HEAD + f'<{p}worksheet {xmlns} xmlns:r="{R}" {EXCEL_NS}{mac} '
        'xr:uid="{00000000-0001-0000-0000-000000000000}">'
        + sheet_pr
        + dimension
        + f'<{p}sheetViews><{p}sheetView tabSelected="1" zoomScale="110" zoomScaleNormal="110" workbookViewId="0">'
        f'<{p}pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        f'<{p}selection pane="bottomLeft" activeCell="B3" sqref="B3"/>{plv}</{p}sheetView></{p}sheetViews>'
        f'<{p}sheetFormatPr defaultRowHeight="15" x14ac:dyDescent="0.25"/>'
        f'<{p}cols><{p}col min="1" max="1" width="10.7109375" style="1" customWidth="1"/>'
        f'<{p}col min="2" max="3" width="14.42578125" customWidth="1"/>'
        f'<{p}col min="10" max="11" width="9.140625" style="3"/></{p}cols>'
        + f"<{p}sheetData>"
        + "".join(rows)
        + f"</{p}sheetData>"
        + auto_filter
        + f'<{p}mergeCells count="1"><{p}mergeCell ref="J7:K8"/></{p}mergeCells>'
        f'<{p}conditionalFormatting sqref="D2:D4"><{p}cfRule type="cellIs" dxfId="0" priority="1" operator="greaterThan">'
        f"<{p}formula>60</{p}formula></{p}cfRule></{p}conditionalFormatting>"
        f'<{p}hyperlinks><{p}hyperlink ref="J7" r:id="rId1" display="intake form" xr:uid="{{0D9E6A43-1A88-4C3E-9C55-0E2D1F6B2C11}}"/></{p}hyperlinks>'
        f'<{p}pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        f'<{p}pageSetup orientation="landscape" r:id="rId2"/>'
        f'<{p}legacyDrawing r:id="rId3"/>'
        + (f'<{p}tableParts count="1"><{p}tablePart r:id="rId4"/></{p}tableParts>' if shape.table else "")
        + f"</{p}worksheet>"
    )
    if shape.google:  # as in Google Sheets' exports: no mc:Ignorable, Mac and x14 namespaces, no dimension
        xml = re.sub(r"<worksheet [^>]*>", GOOGLE_ROOT, xml, count=1)
        xml = re.sub(r"<sheetPr\b.*?</sheetPr>|<sheetPr [^>]*/>", GOOGLE_SHEET_PR, xml, count=1)
        xml = re.sub(r"<dimension [^>]*/>", "", xml)
        xml = re.sub(r"<sheetFormatPr [^>]*/>", GOOGLE_FORMAT_PR, xml)
    return xml


GOOGLE_ROOT = (
    f'<worksheet xmlns="{MAIN}" xmlns:r="{R}" '
    'xmlns:mx="http://schemas.microsoft.com/office/mac/excel/2008/main" '
    f'xmlns:mc="{MC}" xmlns:mv="urn:schemas-microsoft-com:mac:vml" '
    'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main" '
    'xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main" '
    'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" '
    'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main" '
    'xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision">'
)
GOOGLE_SHEET_PR = '<sheetPr><outlinePr summaryBelow="0" summaryRight="0"/></sheetPr>'
GOOGLE_FORMAT_PR = '<sheetFormatPr customHeight="1" defaultColWidth="12.63" defaultRowHeight="15.75"/>'


def payers_xml(shape: Shape) -> str:
    p = shape.prefix
    cells1 = "".join(
        _text_cell(shape, f"{c}1", t) for c, t in zip("ABC", ["Payer", "Accepts", "Rate 97124"], strict=True)
    )
    cells2 = (
        _text_cell(shape, "A2", "Aetna") + _text_cell(shape, "B2", "97124") + _number_cell(shape, "C2", 30)
    )
    xmlns = f'xmlns:x="{MAIN}"' if p == "x:" else f'xmlns="{MAIN}"'
    return (
        HEAD
        + f'<{p}worksheet {xmlns} xmlns:r="{R}" {EXCEL_NS} xr:uid="{{00000000-0001-0000-0100-000000000000}}">'
        + (f'<{p}dimension ref="A1:C2"/>' if shape.dimension else "")
        + f'<{p}sheetViews><{p}sheetView workbookViewId="0"/></{p}sheetViews>'
        f'<{p}sheetFormatPr defaultRowHeight="15" x14ac:dyDescent="0.25"/>'
        f"<{p}sheetData>{_row(shape, 1, cells1, 3)}{_row(shape, 2, cells2, 3)}</{p}sheetData>"
        f'<{p}pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        f"</{p}worksheet>"
    )


def shared_strings_xml(shape: Shape) -> str:
    items = []
    for text in _strings(shape):
        if text == "Bo":  # partly formatted text: rich-text runs
            items.append(
                '<si><r><rPr><b/><sz val="11"/><color theme="1"/><rFont val="Calibri"/><family val="2"/>'
                '<scheme val="minor"/></rPr><t>B</t></r><r><rPr><sz val="11"/><color rgb="FFFF0000"/>'
                '<rFont val="Calibri"/><family val="2"/><scheme val="minor"/></rPr><t>o</t></r>'
                '<phoneticPr fontId="1" type="noConversion"/></si>'
            )
        else:
            items.append(f"<si><t>{text}</t></si>")
    n = len(items)
    return HEAD + f'<sst xmlns="{MAIN}" count="{n + 8}" uniqueCount="{n}">' + "".join(items) + "</sst>"


STYLES = (
    HEAD + f'<styleSheet xmlns="{MAIN}" {EXCEL_NS.replace("x14ac xr xr2 xr3", "x14ac x16r2 xr")} '
    'xmlns:x16r2="http://schemas.microsoft.com/office/spreadsheetml/2015/02/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="[$-409]mmm\\ d\\,\\ yyyy;@"/></numFmts>'
    '<fonts count="2" x14ac:knownFonts="1"><font><sz val="11"/><color theme="1"/><name val="Calibri"/>'
    '<family val="2"/><scheme val="minor"/></font><font><b/><sz val="11"/><color theme="1"/>'
    '<name val="Calibri"/><family val="2"/><scheme val="minor"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="1"><dxf><font><color rgb="FF9C0006"/></font><fill><patternFill><bgColor rgb="FFFFC7CE"/>'
    "</patternFill></fill></dxf></dxfs>"
    '<tableStyles count="0" defaultTableStyle="TableStyleMedium2" defaultPivotStyle="PivotStyleLight16"/>'
    '<extLst><ext uri="{EB79DEF2-80B8-43e5-95BD-54CBDDF9020C}" '
    'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    '<x14:slicerStyles defaultSlicerStyle="SlicerStyleLight1"/></ext>'
    '<ext uri="{9260A510-F301-46a8-8635-F512D64BE5F5}" '
    'xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main">'
    '<x15:timelineStyles defaultTimelineStyle="TimeSlicerStyleLight1"/></ext></extLst></styleSheet>'
)


def table_xml(shape: Shape) -> str:
    last = "H" if shape.owned else "D"
    names = ["Date", "Client", "Payer", "Minutes"] + (
        ["Code", "Units", "Expected", "Flags"] if shape.owned else []
    )
    bottom = 5 if shape.totals_row else 4
    totals = ' totalsRowCount="1"' if shape.totals_row else ' totalsRowShown="0"'
    columns = "".join(
        f'<tableColumn id="{i}" xr3:uid="{{00000000-0010-0000-0000-00000000000{i}}}" name="{n}"'
        + (' totalsRowFunction="sum"' if shape.totals_row and n == "Minutes" else "")
        + (' totalsRowLabel="Total"' if shape.totals_row and n == "Date" else "")
        + "/>"
        for i, n in enumerate(names, start=1)
    )
    return (
        HEAD + f'<table xmlns="{MAIN}" {EXCEL_NS.replace("x14ac xr xr2 xr3", "xr xr3")} '
        f'id="1" xr:uid="{{00000000-000C-0000-FFFF-FFFF00000000}}" name="Sessions" displayName="Sessions" '
        f'ref="A1:{last}{bottom}"{totals}>'
        f'<autoFilter ref="A1:{last}4" xr:uid="{{00000000-0009-0000-0100-000001000000}}"/>'
        f'<tableColumns count="{len(names)}">{columns}</tableColumns>'
        '<tableStyleInfo name="TableStyleMedium2" showFirstColumn="0" showLastColumn="0" '
        'showRowStripes="1" showColumnStripes="0"/></table>'
    )


def _prefixed(xml: str, prefix: str) -> str:
    """The part with its SpreadsheetML tags written `x:tag` (extension tags keep their own prefix)."""
    xml = re.sub(r"<(/?)(?![?!])([A-Za-z]+[\s/>])", rf"<\1{prefix}\2", xml)
    return re.sub(rf'(<{prefix}\w+) xmlns="', rf'\1 xmlns:{prefix[:-1]}="', xml, count=1)


def build(path: Path, shape: Shape) -> Path:
    """Zip the parts of a two-sheet billing workbook (Sessions, Payers) in `shape`."""
    table = shape.table
    if shape.totals_row:  # the totals row, as Excel writes it, below the data
        pass
    sheet = sheet_xml(shape)
    if shape.totals_row:
        p = shape.prefix
        total = _text_cell(shape, "A5", "Private note") + _number_cell(
            shape, "D5", 135, 0, f"<{p}f>SUBTOTAL(109,Sessions[Minutes])</{p}f>"
        )
        row7 = sheet.rindex(f"<{p}row", 0, sheet.index('"J7"'))
        sheet = sheet[:row7] + _row(shape, 5, total, 4) + sheet[row7:]
    types = (
        HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="vml" ContentType="application/vnd.openxmlformats-officedocument.vmlDrawing"/>'
        '<Default Extension="bin" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.printerSettings"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/theme/theme1.xml" ContentType="application/vnd.openxmlformats-officedocument.theme+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        + (
            ""
            if shape.inline_strings
            else '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        )
        + (
            '<Override PartName="/xl/tables/table1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.table+xml"/>'
            if table
            else ""
        )
        + '<Override PartName="/xl/comments1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"/>'
        '<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    )
    root_rels = (
        HEAD + f'<Relationships xmlns="{PR}">'
        f'<Relationship Id="rId3" Type="{R}/extended-properties" Target="docProps/app.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId1" Type="{R}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        HEAD + f'<workbook xmlns="{MAIN}" xmlns:r="{R}" xmlns:mc="{MC}" mc:Ignorable="x15 xr xr6 xr10 xr2" '
        'xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main" '
        'xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision" '
        'xmlns:xr6="http://schemas.microsoft.com/office/spreadsheetml/2016/revision6" '
        'xmlns:xr10="http://schemas.microsoft.com/office/spreadsheetml/2016/revision10" '
        'xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2">'
        '<fileVersion appName="xl" lastEdited="7" lowestEdited="7" rupBuild="27425"/>'
        + (
            '<workbookPr date1904="1" defaultThemeVersion="166925"/>'
            if shape.date1904
            else '<workbookPr defaultThemeVersion="166925"/>'
        )
        + '<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
        '<mc:Choice Requires="x15"><x15ac:absPath url="C:\\Users\\therapist\\Documents\\" '
        'xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac"/></mc:Choice></mc:AlternateContent>'
        '<xr:revisionPtr revIDLastSave="0" documentId="8_{C2A4B8A0-0F51-4D2B-9F8E-0E1A4C2B7F10}" '
        'xr6:coauthVersionLast="47" xr6:coauthVersionMax="47" xr10:uidLastSave="{00000000-0000-0000-0000-000000000000}"/>'
        '<bookViews><workbookView xWindow="-120" yWindow="-120" windowWidth="29040" windowHeight="15840" '
        'xr2:uid="{00000000-000D-0000-FFFF-FFFF00000000}"/></bookViews>'
        '<sheets><sheet name="Sessions" sheetId="1" r:id="rId1"/><sheet name="Payers" sheetId="2" r:id="rId2"/></sheets>'
        + (
            '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">Sessions!$A$1:$D$4</definedName>'
            '<definedName name="Rate">Payers!$C$2</definedName></definedNames>'
            if not table
            else '<definedNames><definedName name="Rate">Payers!$C$2</definedName></definedNames>'
        )
        + '<calcPr calcId="191029"/><extLst><ext uri="{140A7094-0E35-4892-8432-C4D2E57EDEB5}" '
        'xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main">'
        '<x15:workbookPr chartTrackingRefBase="1"/></ext></extLst></workbook>'
    )
    workbook_rels = (
        HEAD + f'<Relationships xmlns="{PR}">'
        f'<Relationship Id="rId3" Type="{R}/theme" Target="theme/theme1.xml"/>'
        f'<Relationship Id="rId2" Type="{R}/worksheet" Target="worksheets/sheet2.xml"/>'
        f'<Relationship Id="rId1" Type="{R}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId6" Type="{R}/calcChain" Target="calcChain.xml"/>'
        + (
            ""
            if shape.inline_strings
            else f'<Relationship Id="rId5" Type="{R}/sharedStrings" Target="sharedStrings.xml"/>'
        )
        + f'<Relationship Id="rId4" Type="{R}/styles" Target="styles.xml"/></Relationships>'
    )
    sheet_rels = (
        HEAD + f'<Relationships xmlns="{PR}">'
        f'<Relationship Id="rId3" Type="{R}/vmlDrawing" Target="../drawings/vmlDrawing1.vml"/>'
        f'<Relationship Id="rId2" Type="{R}/printerSettings" Target="../printerSettings/printerSettings1.bin"/>'
        f'<Relationship Id="rId1" Type="{R}/hyperlink" Target="https://example.org/intake" TargetMode="External"/>'
        + (f'<Relationship Id="rId4" Type="{R}/table" Target="../tables/table1.xml"/>' if table else "")
        + f'<Relationship Id="rId5" Type="{R}/comments" Target="../comments1.xml"/></Relationships>'
    )
    comments = (
        HEAD
        + f'<comments xmlns="{MAIN}" {EXCEL_NS.replace("x14ac xr xr2 xr3", "xr")}><authors><author>Therapist</author></authors>'
        '<commentList><comment ref="B3" authorId="0" shapeId="0" xr:uid="{00000000-0006-0000-0000-000001000000}">'
        '<text><r><rPr><b/><sz val="9"/><color indexed="81"/><rFont val="Tahoma"/><family val="2"/></rPr>'
        '<t>Therapist:</t></r><r><rPr><sz val="9"/><color indexed="81"/><rFont val="Tahoma"/>'
        '<family val="2"/></rPr><t xml:space="preserve">\nprefers mornings</t></r></text></comment></commentList></comments>'
    )
    vml = (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml"\r\n xmlns:o="urn:schemas-microsoft-com:office:office"\r\n'
        ' xmlns:x="urn:schemas-microsoft-com:office:excel">\r\n <o:shapelayout v:ext="edit">\r\n'
        '  <o:idmap v:ext="edit" data="1"/>\r\n </o:shapelayout><v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202"\r\n'
        '  path="m,l,21600r21600,l21600,xe">\r\n  <v:stroke joinstyle="miter"/>\r\n'
        '  <v:path gradientshapeok="t" o:connecttype="rect"/>\r\n </v:shapetype><v:shape id="_x0000_s1025" type="#_x0000_t202"\r\n'
        '  style="position:absolute;margin-left:59.25pt;margin-top:1.5pt;width:108pt;height:59.25pt;z-index:1;visibility:hidden"\r\n'
        '  fillcolor="#ffffe1" o:insetmode="auto">\r\n  <v:fill color2="#ffffe1"/>\r\n'
        '  <v:textbox style="mso-direction-alt:auto"/>\r\n  <x:ClientData ObjectType="Note">\r\n'
        "   <x:MoveWithCells/>\r\n   <x:SizeWithCells/>\r\n   <x:AutoFill>False</x:AutoFill>\r\n"
        "   <x:Row>2</x:Row>\r\n   <x:Column>1</x:Column>\r\n  </x:ClientData>\r\n </v:shape></xml>"
    )
    calc_chain = HEAD + f'<calcChain xmlns="{MAIN}"><c r="D2" i="1" l="1"/><c r="D3"/><c r="D4"/></calcChain>'
    theme = (
        HEAD
        + '<a:theme xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" name="Office Theme"><a:themeElements/></a:theme>'
    )
    core = (
        HEAD
        + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>Therapist</dc:creator>'
        '<dcterms:created xsi:type="dcterms:W3CDTF">2026-11-01T10:00:00Z</dcterms:created></cp:coreProperties>'
    )
    app = (
        HEAD
        + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        "<Application>Microsoft Excel</Application><AppVersion>16.0300</AppVersion></Properties>"
    )
    parts = {
        "[Content_Types].xml": types,
        "_rels/.rels": root_rels,
        "docProps/app.xml": app,
        "docProps/core.xml": core,
        "xl/workbook.xml": workbook,
        "xl/_rels/workbook.xml.rels": workbook_rels,
        "xl/worksheets/sheet1.xml": sheet,
        "xl/worksheets/sheet2.xml": payers_xml(shape),
        "xl/theme/theme1.xml": theme,
        "xl/styles.xml": STYLES,
        "xl/worksheets/_rels/sheet1.xml.rels": sheet_rels,
        "xl/printerSettings/printerSettings1.bin": b"\x00\x01printer\x00",
        "xl/comments1.xml": comments,
        "xl/drawings/vmlDrawing1.vml": vml,
        "xl/calcChain.xml": calc_chain,
    }
    if not shape.inline_strings:
        parts["xl/sharedStrings.xml"] = shared_strings_xml(shape)
    if shape.prefix:  # the Open XML SDK prefixes every part's tags
        for name in ("xl/sharedStrings.xml", "xl/styles.xml"):
            if name in parts:
                parts[name] = _prefixed(str(parts[name]), shape.prefix)
    if table:
        parts["xl/tables/table1.xml"] = table_xml(shape)
    parts.update(shape.extra_parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data if isinstance(data, bytes) else data.encode())
    return path
