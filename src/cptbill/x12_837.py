"""The 837P writer: claims to one X12 005010X222A1 professional claim file (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from cptbill.claims import PLAN_TYPES, Address, Claim, Name, Provider, Rendering

VERSION = "005010X222A1"
SEGMENT_END = "~\n"  # one segment per line: easy to read, and pyx12's positions are lines
_UNSAFE = re.compile(r"[~*:^\r\n]+")  # the delimiters this file uses may not appear in values


@dataclass(frozen=True)
class Control:
    """The envelope's control numbers and time: unique per file sent."""

    interchange: int  # ISA13, up to 9 digits
    group: int = 1  # GS06
    when: dt.datetime = dt.datetime(2026, 1, 1)


def _clean(value: object) -> str:
    return " ".join(_UNSAFE.sub(" ", str(value)).split())


def _amount(value: Decimal) -> str:
    """An X12 decimal: no trailing zeros (60, 62.5, 62.55)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _element(value: object) -> str:
    """One element; a tuple is a composite, its parts joined by `:` (trailing empty parts dropped)."""
    if isinstance(value, tuple):
        parts = [_element(part) for part in value]
        while parts and parts[-1] == "":
            parts.pop()
        return ":".join(parts)
    return "" if value is None else _clean(value)


def _segment(*elements: object) -> str:
    """Elements joined by `*`, trailing empty ones dropped."""
    parts = [_element(e) for e in elements]
    while parts and parts[-1] == "":
        parts.pop()
    return "*".join(parts)


def _name(qualifier: str, name: Name, id_qualifier: str = "", identifier: str = "") -> str:
    kind = "1" if name.person else "2"
    return _segment("NM1", qualifier, kind, name.last, name.first, "", "", "", id_qualifier, identifier)


def _address(address: Address) -> list[str]:
    return [_segment("N3", address.street), _segment("N4", address.city, address.state, address.zip)]


def _rendering(rendering: Rendering) -> list[str]:
    """NM1*82 (the therapist's name and NPI) and, when known, PRV*PE*PXC with the therapist's taxonomy."""
    found = [_name("82", rendering.name, "XX", rendering.npi)]
    if rendering.taxonomy:
        found.append(_segment("PRV", "PE", "PXC", rendering.taxonomy))
    return found


def _date(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def write_837(claims: Sequence[Claim], provider: Provider, control: Control) -> str:
    """One interchange holding one 837P transaction with `claims` (all to one payer, or several)."""
    when = control.when
    sender, receiver = _clean(provider.submitter_id), _clean(provider.receiver_id)
    body: list[str] = [
        _segment("ST", "837", "0001", VERSION),
        _segment("BHT", "0019", "00", f"{control.interchange:09d}", _date(when), when.strftime("%H%M"), "CH"),
        _name("41", provider.name, "46", sender),
        _segment("PER", "IC", provider.name.form(), "TE", provider.phone),
        _segment("NM1", "40", "2", provider.receiver_name or receiver, "", "", "", "", "46", receiver),
    ]
    body += [_segment("HL", "1", "", "20", "1")]
    if provider.taxonomy:
        body.append(_segment("PRV", "BI", "PXC", provider.taxonomy))
    body.append(_name("85", provider.name, "XX", provider.npi))
    assert provider.address is not None
    body += _address(provider.address)
    body.append(_segment("REF", "SY" if provider.tax_id_type == "SSN" else "EI", provider.tax_id))
    number = 1
    for claim in claims:
        number = _claim(body, claim, provider, number)
    body.append(_segment("SE", str(len(body) + 1), "0001"))
    isa = "*".join([
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", f"{sender:<15}"[:15], "ZZ", f"{receiver:<15}"[:15],
        when.strftime("%y%m%d"), when.strftime("%H%M"), "^", "00501", f"{control.interchange:09d}",
        "0", "T" if provider.test else "P", ":",
    ])  # fmt: skip
    gs = _segment(
        "GS", "HC", sender, receiver, _date(when), when.strftime("%H%M"), str(control.group), "X", VERSION
    )
    trailer = [_segment("GE", "1", str(control.group)), _segment("IEA", "1", f"{control.interchange:09d}")]
    return SEGMENT_END.join([isa, gs, *body, *trailer]) + SEGMENT_END


def _claim(body: list[str], claim: Claim, provider: Provider, parent_number: int) -> int:
    """Append the subscriber (and patient) levels and the claim; return the last HL number used."""
    client, payer = claim.client, claim.payer
    subscriber_is_patient = client.insured is None
    subscriber = parent_number + 1
    body.append(_segment("HL", str(subscriber), "1", "22", "0" if subscriber_is_patient else "1"))
    filing = PLAN_TYPES[payer.plan_type][0]
    body.append(
        _segment("SBR", "P", "18" if subscriber_is_patient else "", client.group, "", "", "", "", "", filing)
    )
    insured = client.insured or client.person
    body.append(_name("IL", insured, "MI", client.member_id))
    insured_address = client.address if subscriber_is_patient else client.insured_address
    if insured_address is not None:
        body += _address(insured_address)
    birth, sex = (
        (client.birth_date, client.sex)
        if subscriber_is_patient
        else (client.insured_birth_date, client.insured_sex)
    )
    if birth is not None:
        body.append(_segment("DMG", "D8", _date(birth), sex or "U"))
    if client.carrier_claim and subscriber_is_patient:
        body.append(_segment("REF", "Y4", client.carrier_claim))
    body.append(_segment("NM1", "PR", "2", payer.payer.name, "", "", "", "", "PI", payer.payer.payer_id))
    if payer.address is not None:
        body += _address(payer.address)
    last = subscriber
    if not subscriber_is_patient:
        last = subscriber + 1
        body.append(_segment("HL", str(last), str(subscriber), "23", "0"))
        body.append(_segment("PAT", client.relationship))
        body.append(_name("QC", client.person))
        assert client.address is not None and client.birth_date is not None
        body += _address(client.address)
        body.append(_segment("DMG", "D8", _date(client.birth_date), client.sex))
        if client.carrier_claim:
            body.append(_segment("REF", "Y4", client.carrier_claim))
    place = claim.lines[0].place
    cause = claim.related_cause
    related = (cause, "", "", client.accident_state if cause == "AA" else "")
    body.append(
        _segment(
            "CLM",
            claim.claim_id,
            _amount(claim.total),
            "",
            "",
            (place, "B", claim.frequency),
            "Y",
            "A",
            "Y",
            "Y",
            "",
            related,
        )
    )
    if client.accident_date is not None and cause in ("AA", "OA", "EM"):
        body.append(_segment("DTP", "439", "D8", _date(client.accident_date)))
    if client.prior_auth:
        body.append(_segment("REF", "G1", client.prior_auth))
    if claim.corrects:
        body.append(_segment("REF", "F8", claim.corrects))
    codes = [("ABK" if i == 0 else "ABF", code) for i, code in enumerate(client.diagnoses[:12])]
    body.append(_segment("HI", *codes))
    if client.referring is not None:
        body.append(_name("DN", client.referring, "XX", client.referring_npi))
    if claim.rendering is not None:  # 2310B: the therapist who treated, when not the billing provider
        body += _rendering(claim.rendering)
    if claim.facility is not None:  # 2310C: sessions given away from the billing address
        facility = claim.facility
        npi = ("XX", facility.npi) if facility.npi else ("", "")
        body.append(_segment("NM1", "77", "2", facility.name, "", "", "", "", *npi))
        body += _address(facility.address)
    billing = Rendering(provider.name, provider.npi, provider.taxonomy) if provider.name.person else None
    for line in claim.lines:
        procedure = ("HC", line.code, *line.modifiers)
        pointers = tuple(str(p) for p in line.pointers)
        body += [
            _segment("LX", str(line.number)),
            _segment(
                "SV1",
                procedure,
                _amount(line.charge),
                "UN",
                str(line.units),
                line.place if line.place != place else "",
                "",
                pointers,
            ),
            _segment("DTP", "472", "D8", _date(claim.date)),
            _segment("REF", "6R", str(line.number)),
        ]
        # 2420A: a line given by another therapist than the claim's 2310B names its own
        if line.rendering != claim.rendering:
            own = line.rendering or billing
            if own is not None:
                body += _rendering(own)
    return last


__all__ = ["VERSION", "Control", "write_837"]
