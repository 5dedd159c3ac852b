"""The yum updateinfo vendor feed against a real HTTP server on 127.0.0.1.

Expected rows are written out by hand from tests/fixtures/al2023/updateinfo.xml (its provenance is
in the file's header comment).
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import date
from pathlib import Path

import pytest

from patch_compliance.catalog_source import CatalogRow
from patch_compliance.config import FeedSettings
from patch_compliance.vendor_feeds import FeedError, YumUpdateinfoFeed, parse_updateinfo
from tests.fixtures.file_server import FileServer, Response

FIXTURE = (Path(__file__).parent / "fixtures" / "al2023" / "updateinfo.xml").read_bytes()
NOT_AFTER = date(2026, 12, 1)
PRODUCT = "AmazonLinux2023"


def repomd(href: str, body: bytes, checksum: str | None = None) -> bytes:
    digest = checksum if checksum is not None else hashlib.sha256(body).hexdigest()
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo">'
            f'<revision>1719866460</revision><data type="primary"><location href="repodata/primary.xml.gz"/></data>'
            f'<data type="updateinfo"><checksum type="sha256">{digest}</checksum>'
            f'<location href="{href}"/><size>{len(body)}</size></data></repomd>').encode()


def serve_repo(server: FileServer, document: bytes, gz: bool = True, checksum: str | None = None,
               href: str | None = None, mirror: str | None = None) -> FeedSettings:
    body = gzip.compress(document, mtime=0) if gz else document
    name = href or f"repodata/{hashlib.sha256(body).hexdigest()}-updateinfo.xml" + (".gz" if gz else "")
    server.routes.update({
        "/al2023/core/mirrors/latest/x86_64/mirror.list": Response(
            f"{mirror or server.base_url + '/al2023/core/guids/abc/x86_64/'}\n".encode()),
        "/al2023/core/guids/abc/x86_64/repodata/repomd.xml": Response(repomd(name, body, checksum)),
        f"/al2023/core/guids/abc/x86_64/{name}": Response(body),
    })
    return FeedSettings(name="al2023", products=(PRODUCT,),
                        mirror_list=f"{server.base_url}/al2023/core/mirrors/latest/x86_64/mirror.list",
                        max_bytes=1 << 20, timeout_seconds=5)


def row(patch_id: str, title: str, classification: str, severity: str | None, released: date,
        cves: tuple[str, ...]) -> CatalogRow:
    return CatalogRow(patch_id, title, PRODUCT, classification, severity, released, cves, "al2023")


RSYSLOG_CVES = ("CVE-2014-3634", "CVE-2022-24903")
EXPECTED = {
    "rsyslog.x86_64": [row("rsyslog.x86_64", "rsyslog.x86_64:0:8.2204.0-3.amzn2023.0.2", "Security", "Important",
                           date(2023, 2, 17), RSYSLOG_CVES)],
    "rsyslog-doc.noarch": [row("rsyslog-doc.noarch", "rsyslog-doc.noarch:0:8.2204.0-3.amzn2023.0.2", "Security",
                               "Important", date(2023, 2, 17), RSYSLOG_CVES)],
    "openssh-server.x86_64": [
        row("openssh-server.x86_64", "openssh-server.x86_64:0:8.7p1-12.amzn2023.0.3", "Security", "Critical",
            date(2024, 7, 1), ("CVE-2024-6387",)),
        row("openssh-server.x86_64", "openssh-server.x86_64:1:8.7p1-13.amzn2023.0.1", "Security", "Medium",
            date(2024, 7, 11), ("CVE-2024-39894",))],
    "tzdata.noarch": [row("tzdata.noarch", "tzdata.noarch:0:2024a-1.amzn2023.0.1", "Bugfix", None,
                          date(2024, 7, 10), ())],
}


def test_feed_through_mirror_list_repomd_and_gzip_returns_the_requested_patches() -> None:
    with FileServer() as server:
        feed = YumUpdateinfoFeed(serve_repo(server, FIXTURE), not_after=NOT_AFTER)
        answer = feed.lookup({PRODUCT: [*sorted(EXPECTED), "not-in-feed.x86_64"]})
        assert server.requests == ["/al2023/core/mirrors/latest/x86_64/mirror.list",
                                   "/al2023/core/guids/abc/x86_64/repodata/repomd.xml",
                                   next(p for p in server.routes if p.endswith(".xml.gz"))]
    assert sorted(answer.rows, key=lambda r: r.title) == sorted(
        (r for rows in EXPECTED.values() for r in rows), key=lambda r: r.title)
    assert answer.rejected == 0 and feed.requests == 3
    assert "4 advisories" in answer.notes[0]


def test_plain_updateinfo_from_a_repository_url_and_only_asked_ids() -> None:
    with FileServer() as server:
        settings = serve_repo(server, FIXTURE, gz=False)
        direct = FeedSettings(name="al2023", products=(PRODUCT,),
                              repository=f"{server.base_url}/al2023/core/guids/abc/x86_64", max_bytes=1 << 20)
        answer = YumUpdateinfoFeed(direct, not_after=NOT_AFTER).lookup({PRODUCT: ["tzdata.noarch"]})
        assert settings.mirror_list.endswith("mirror.list")
        assert not any(p.endswith("mirror.list") for p in server.requests)
    assert list(answer.rows) == EXPECTED["tzdata.noarch"]


def bad_update(advisory: str, body: str) -> str:
    return (f'<update type="security" status="final"><id>{advisory}</id><issued date="2024-07-01 20:41:00" />'
            f'<severity>Important</severity>{body}</update>')


PACKAGE = ('<pkglist><collection short="amazon-linux-2023"><package arch="x86_64" epoch="0" name="curl" '
           'release="1.amzn2023.0.1" version="8.5.0"/></collection></pkglist>')


def test_invalid_advisories_are_refused_one_by_one() -> None:
    document = ("<updates>"
                + bad_update("ALAS2023-2024-800", '<references><reference type="cve" id="CVE-NOPE" /></references>'
                             + PACKAGE)
                + bad_update("ALAS2023-2024-801", PACKAGE).replace("2024-07-01 20:41:00", "yesterday")
                + bad_update("ALAS2023-2024-802", PACKAGE).replace("2024-07-01", "2027-01-01")  # after not_after
                + bad_update("ALAS2023-2024-803", PACKAGE.replace('name="curl"', 'name="curl&lt;script&gt;"'))
                + bad_update("ALAS2023-2024-804", PACKAGE).replace('type="security"', 'type="sneaky"')
                + bad_update("ALAS2023 2024 805", PACKAGE)
                + bad_update("ALAS2023-2024-806", "")  # no packages
                + bad_update("ALAS2023-2024-807", PACKAGE).replace("Important", "Apocalyptic")
                + bad_update("ALAS2023-2024-808", PACKAGE.replace('epoch="0"', 'epoch="-1"'))
                + bad_update("ALAS2023-2024-809", PACKAGE)  # the one valid advisory
                + "</updates>").encode()
    advisories, refused = parse_updateinfo(document, NOT_AFTER)
    assert [a.advisory_id for a in advisories] == ["ALAS2023-2024-809"]
    assert advisories[0].packages == (("curl.x86_64", "curl.x86_64:0:8.5.0-1.amzn2023.0.1"),)
    assert len(refused) == 9
    for fragment in ("CVE-NOPE", "yesterday", "2027-01-01 is outside", "curl<script>", "sneaky", "ALAS2023 2024 805",
                     "0 packages", "Apocalyptic", "'-1'"):
        assert any(fragment in reason for reason in refused), (fragment, refused)
    with FileServer() as server:
        answer = YumUpdateinfoFeed(serve_repo(server, document), not_after=NOT_AFTER).lookup({PRODUCT: ["curl.x86_64"]})
    assert [r.title for r in answer.rows] == ["curl.x86_64:0:8.5.0-1.amzn2023.0.1"] and answer.rejected == 9


BILLION_LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<updates><update type="security"><id>&lol2;</id></update></updates>"""


@pytest.mark.parametrize(("case", "message"), [
    ("not_xml", "not well-formed XML"),
    ("entities", "DTD or entity"),
    ("wrong_root", "expected <updates>"),
    ("checksum", "does not match repomd.xml's checksum"),
    ("too_big", "over the 1048576-byte limit"),
    ("gzip_bomb", "decompresses to more than 1048576 bytes"),
    ("mirror_elsewhere", "names no http(s) repository on 127.0.0.1"),
    ("href_escapes", "is not a relative path"),
    ("href_absolute", "is not a relative path"),
    ("no_updateinfo", "lists no updateinfo"),
    ("missing_repomd", "HTTP Error 404"),
    ("redirect_elsewhere", "another host: refused"),
])
def test_untrustworthy_feeds_fail_the_lookup(case: str, message: str) -> None:
    with FileServer() as server:
        document, options = FIXTURE, {}
        if case == "not_xml":
            document = b"<updates><update>"
        elif case == "entities":
            document = BILLION_LAUGHS
        elif case == "wrong_root":
            document = b"<advisories/>"
        elif case == "checksum":
            options = {"checksum": "0" * 64}
        elif case == "too_big":
            document, options = b"<updates>" + b" " * (2 << 20) + b"</updates>", {"gz": False}
        elif case == "gzip_bomb":
            document = b"<updates>" + b" " * (8 << 20) + b"</updates>"
        elif case == "mirror_elsewhere":
            options = {"mirror": "http://169.254.169.254/latest/meta-data/"}
        elif case == "href_escapes":
            options = {"href": "repodata/../../../secrets.xml"}
        elif case == "href_absolute":
            options = {"href": "http://127.0.0.1:1/updateinfo.xml"}
        settings = serve_repo(server, document, **options)
        if case == "no_updateinfo":
            server.routes["/al2023/core/guids/abc/x86_64/repodata/repomd.xml"] = Response(
                b'<repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="primary"/></repomd>')
        elif case == "missing_repomd":
            del server.routes["/al2023/core/guids/abc/x86_64/repodata/repomd.xml"]
        elif case == "redirect_elsewhere":
            elsewhere = settings.mirror_list.replace("127.0.0.1", "localhost")
            server.routes["/moved"] = Response(b"", 302, {"Location": elsewhere})
            settings = FeedSettings(name="al2023", products=(PRODUCT,), mirror_list=f"{server.base_url}/moved",
                                    max_bytes=1 << 20, timeout_seconds=5)
        with pytest.raises(FeedError, match=message.replace("(", r"\(").replace(")", r"\)")):
            YumUpdateinfoFeed(settings, not_after=NOT_AFTER).lookup({PRODUCT: ["rsyslog.x86_64"]})
