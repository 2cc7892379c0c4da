"""Vouchers through the gateway: files checked by their bytes and stored by sha256; the approving
body, supervisors and the company get originals, residents the redacted copy, and payroll only as
totals by role."""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
import zlib
from urllib.parse import quote

import httpx

from tests.identity.world import World, ok

PROBLEM = "application/problem+json"


def png(tag: str = "") -> bytes:
    """A valid 1x1 PNG; `tag` (a text chunk) makes its bytes, and so its sha256, unique."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Comment\x00" + (tag or uuid.uuid4().hex).encode())
        + chunk(b"IDAT", zlib.compress(b"\x00\xc8\x32\x32"))
        + chunk(b"IEND", b"")
    )


def pdf(text: str) -> bytes:
    """A valid one-page PDF showing `text` (ASCII), with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 20 50 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def vouchers(estate: str, tail: str = "") -> str:
    return f"/api/v1/estates/{estate}/vouchers{tail}"


def upload(
    client: httpx.Client,
    estate: str,
    content: bytes,
    media_type: str,
    kind: str = "receipt",
    **params: str,
) -> httpx.Response:
    return client.post(
        vouchers(estate),
        content=content,
        headers={"content-type": media_type},
        params={"kind": kind, **params},
    )


def refused(reply: httpx.Response, status: int, words: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM), reply.headers
    assert words in reply.json()["detail"], reply.json()


def test_the_company_uploads_png_and_pdf_and_the_same_bytes_give_the_same_voucher(
    world: World,
) -> None:
    image, document = png(), pdf("Invoice 2026-03 cleaning 1234.50 yuan")
    with world.client("company_accountant") as acc:
        first = upload(acc, world.estate_a, image, "image/png", filename="三月/收据.png")
        assert first.status_code == 201, first.text
        receipt = first.json()
        assert receipt["sha256"] == hashlib.sha256(image).hexdigest()
        assert receipt["kind"] == "receipt" and receipt["media_type"] == "image/png"
        assert receipt["size"] == len(image) and receipt["filename"] == "收据.png"
        assert receipt["has_redacted_copy"] is False and receipt["uploaded_at"]
        assert first.headers["location"].endswith(f"/vouchers/{receipt['sha256']}/meta")
        again = upload(acc, world.estate_a, image, "image/png", filename="again.png")
        assert again.status_code == 201 and again.json() == receipt
        other_kind = upload(acc, world.estate_a, image, "image/png", kind="contract")
        refused(other_kind, 409, "uploaded already as a receipt")
        invoice = ok(upload(acc, world.estate_a, document, "application/pdf", kind="invoice"))
        assert invoice["sha256"] == hashlib.sha256(document).hexdigest()
        # Beyond the gateway's usual 1 MiB: files up to 10 MiB are taken on these routes only.
        big = document + b"%" + b"0" * (3 * 1024 * 1024)
        assert ok(upload(acc, world.estate_a, big, "application/pdf"))["size"] == len(big)
        json_body = acc.post(
            f"/api/v1/estates/{world.estate_a}/ledger/entries",
            content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
            headers={"content-type": "application/json"},
        )
        assert json_body.status_code == 413
    with world.client("owner") as owner:
        invoices = ok(owner.get(vouchers(world.estate_a), params={"kind": "invoice"}))
        assert [v["sha256"] for v in invoices] == [invoice["sha256"]]
        everything = {v["sha256"] for v in ok(owner.get(vouchers(world.estate_a)))}
        assert {receipt["sha256"], invoice["sha256"]} <= everything
        assert ok(owner.get(vouchers(world.estate_a, f"/{receipt['sha256']}/meta"))) == receipt
        served = owner.get(vouchers(world.estate_a, f"/{invoice['sha256']}"))
        assert served.status_code == 200 and served.content == document
        assert served.headers["content-type"] == "application/pdf"
        assert served.headers["etag"] == f'"{invoice["sha256"]}"'
        assert "immutable" in served.headers["cache-control"]
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers["content-security-policy"]
        assert served.headers["content-disposition"].startswith("inline;")
        cached = owner.get(
            vouchers(world.estate_a, f"/{invoice['sha256']}"),
            headers={"if-none-match": served.headers["etag"]},
        )
        assert cached.status_code == 304 and not cached.content
    with world.client("committee_member") as member:
        audit = ok(member.get(f"/api/v1/estates/{world.estate_a}/audit", params={"limit": 500}))
        uploads = [e for e in audit["entries"] if e["action"] == "voucher.upload"]
        assert [e["target"] for e in uploads].count(receipt["sha256"]) == 1


def test_wrong_spoofed_empty_and_too_large_files_are_refused_with_a_reason(world: World) -> None:
    estate = world.estate_a
    with world.client("company_manager") as manager:
        refused(upload(manager, estate, b"hello", "text/plain"), 415, "Content-Type")
        refused(upload(manager, estate, b"<svg/>", "image/svg+xml"), 415, "image/png")
        refused(upload(manager, estate, png(), "application/pdf"), 400, "bytes say it is a PNG")
        refused(
            upload(manager, estate, b"MZ\x90\x00 not an image", "image/jpeg"),
            400,
            "none of the accepted types",
        )
        refused(upload(manager, estate, b"", "image/png"), 400, "empty")
        too_large = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)
        refused(upload(manager, estate, too_large, "application/pdf"), 413, "larger than")
        no_kind = manager.post(
            vouchers(estate), content=png(), headers={"content-type": "image/png"}
        )
        refused(no_kind, 422, "kind")
        refused(
            upload(manager, estate, png(), "image/png", kind="payroll", payroll_totals="[1]"),
            400,
            "payroll_totals must be a JSON object",
        )
        refused(
            upload(manager, estate, png(), "image/png", payroll_totals='{"保洁员": 100}'),
            400,
            "only payroll vouchers carry totals",
        )
    for role in ("owner", "company_staff", "committee_chair"):
        with world.client(role) as someone:
            refused(upload(someone, estate, png(), "image/png"), 403, "voucher.upload")


def test_owners_get_the_redacted_copy_and_the_committee_the_original(world: World) -> None:
    original = pdf("Repair contract: Wang Fang, ID 510104199001011234, phone 13900000001")
    copy = png("redacted")
    with world.client("company_accountant") as acc:
        voucher = ok(upload(acc, world.estate_a, original, "application/pdf", kind="contract"))
        sha = voucher["sha256"]
        same = acc.put(
            vouchers(world.estate_a, f"/{sha}/redacted"),
            content=original,
            headers={"content-type": "application/pdf"},
        )
        refused(same, 400, "same file as the original")
        with_copy = ok(
            acc.put(
                vouchers(world.estate_a, f"/{sha}/redacted"),
                content=copy,
                headers={"content-type": "image/png"},
            )
        )
    assert with_copy["has_redacted_copy"] is True and with_copy["sha256"] == sha
    assert with_copy["redacted_sha256"] == hashlib.sha256(copy).hexdigest()
    for role in ("owner", "tenant", "company_staff"):
        with world.client(role) as resident:
            got = resident.get(vouchers(world.estate_a, f"/{sha}"))
            assert got.status_code == 200, got.text
            assert got.content == copy and hashlib.sha256(got.content).hexdigest() != sha
            assert got.headers["content-type"] == "image/png"
            assert got.headers["etag"] == f'"{with_copy["redacted_sha256"]}"'
            assert got.headers["x-voucher-redacted"] == "true"
    for role in (
        "committee_member",
        "estate_supervisor",
        "community_supervisor",
        "company_manager",
    ):
        with world.client(role) as overseer:
            got = overseer.get(vouchers(world.estate_a, f"/{sha}"))
            assert got.status_code == 200, got.text
            assert got.content == original and hashlib.sha256(got.content).hexdigest() == sha
            assert got.headers["content-type"] == "application/pdf"
            assert got.headers["etag"] == f'"{sha}"'
            disposition = got.headers["content-disposition"]
            assert disposition.startswith("inline;") and "filename*=UTF-8''" in disposition
    with world.client("owner") as owner:
        refused(
            owner.put(
                vouchers(world.estate_a, f"/{sha}/redacted"),
                content=png(),
                headers={"content-type": "image/png"},
            ),
            403,
            "voucher.upload",
        )


def test_owners_see_payroll_as_totals_by_role_never_as_a_file(world: World) -> None:
    payroll = pdf("Payroll 2026-03: Li Qiang 4500.00, Zhang Wei 5200.00")
    totals = {"保洁员": 1_234_500, "保安员": 2_345_600}
    with world.client("company_accountant") as acc:
        voucher = ok(
            upload(
                acc,
                world.estate_a,
                payroll,
                "application/pdf",
                kind="payroll",
                filename="工资表 三月.pdf",
                payroll_totals=json.dumps(totals, ensure_ascii=False),
            )
        )
        assert voucher["payroll_totals"] == totals
        sha = voucher["sha256"]
        ok(
            acc.put(
                vouchers(world.estate_a, f"/{sha}/redacted"),
                content=png("payroll-redacted"),
                headers={"content-type": "image/png"},
            )
        )
        changed = {**totals, "绿化工": 800_000}
        updated = ok(
            acc.put(vouchers(world.estate_a, f"/{sha}/payroll-totals"), json={"totals": changed})
        )
        assert updated["payroll_totals"] == changed
        receipt = ok(upload(acc, world.estate_a, png(), "image/png"))
        refused(
            acc.put(
                vouchers(world.estate_a, f"/{receipt['sha256']}/payroll-totals"),
                json={"totals": totals},
            ),
            422,
            "only payroll vouchers",
        )
        assert receipt["payroll_totals"] is None
    with world.client("owner") as owner:
        meta = ok(owner.get(vouchers(world.estate_a, f"/{sha}/meta")))
        assert meta["kind"] == "payroll" and meta["payroll_totals"] == changed
        listed = ok(owner.get(vouchers(world.estate_a), params={"kind": "payroll"}))
        assert [v["payroll_totals"] for v in listed] == [changed]
        file = owner.get(vouchers(world.estate_a, f"/{sha}"))
        refused(file, 403, "payroll vouchers are shown to owners as totals by role")
        assert file.json()["code"] == "payroll_totals_only"
    with world.client("tenant") as tenant:
        refused(tenant.get(vouchers(world.estate_a, f"/{sha}")), 403, "totals by role")
    with world.client("committee_chair") as chair:
        got = chair.get(vouchers(world.estate_a, f"/{sha}"))
        assert got.status_code == 200 and got.content == payroll
        assert f"filename*=UTF-8''{quote('工资表 三月.pdf')}" in got.headers["content-disposition"]


def test_another_estate_s_company_and_owners_find_nothing(world: World) -> None:
    image = png()
    with world.client("company_accountant") as acc:
        sha = ok(upload(acc, world.estate_a, image, "image/png"))["sha256"]
    with world.as_token(world.other_company_token) as other:
        for tail in (f"/{sha}", f"/{sha}/meta", ""):
            refused(other.get(vouchers(world.estate_a, tail)), 404, "no such estate")
        refused(upload(other, world.estate_a, png(), "image/png"), 404, "no such estate")
        refused(
            other.put(
                vouchers(world.estate_a, f"/{sha}/payroll-totals"), json={"totals": {"x": 1}}
            ),
            404,
            "no such estate",
        )
        # In its own estate the same bytes are a voucher of that estate alone.
        refused(other.get(vouchers(world.estate_b, f"/{sha}")), 404, "no voucher")
        mine = ok(upload(other, world.estate_b, image, "image/png", kind="bank"))
        assert mine["sha256"] == sha and mine["kind"] == "bank"
        assert other.get(vouchers(world.estate_b, f"/{sha}")).content == image
    with world.as_token(world.owner_b_token) as owner_b:
        refused(owner_b.get(vouchers(world.estate_a, f"/{sha}")), 404, "no such estate")
    with world.client("owner") as owner_a:
        meta = ok(owner_a.get(vouchers(world.estate_a, f"/{sha}/meta")))
        assert meta["kind"] == "receipt"
