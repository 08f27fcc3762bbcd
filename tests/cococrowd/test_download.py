"""`cococrowd download` against a loopback HTTP server serving archives made here."""
from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from cococrowd import download
from cococrowd.cli import main
from cococrowd.cocofile import load_keypoint_file
from cococrowd.download import Archive, DownloadError, download_split, fetch

KP_NAMES = ["nose", "left_eye", "right_eye"]


def _coco_json(split: str) -> bytes:
    data = {
        "images": [{"id": 1, "file_name": f"COCO_{split}_000000000001.jpg", "width": 8, "height": 6}],
        "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "area": 9,
                         "iscrowd": 0, "num_keypoints": 1, "keypoints": [2, 2, 2, 0, 0, 0, 0, 0, 0]}],
        "categories": [{"id": 1, "name": "person", "keypoints": KP_NAMES, "skeleton": [[1, 2]]}],
    }
    return json.dumps(data).encode()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (120, 30, 200)).save(buf, format="JPEG")
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


ANN_ZIP = _zip({"annotations/person_keypoints_val2014.json": _coco_json("val2014"),
                "annotations/person_keypoints_train2014.json": _coco_json("train2014"),
                "annotations/captions_val2014.json": b"{}"})
IMG_ZIP = _zip({"val2014/COCO_val2014_000000000001.jpg": _jpeg(),
                "val2014/COCO_val2014_000000000002.jpg": _jpeg()})


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _catalogue(ann: bytes = ANN_ZIP, img: bytes = IMG_ZIP, **override) -> dict[str, Archive]:
    cat = {"annotations_trainval2014.zip": Archive("annotations/annotations_trainval2014.zip", len(ann), _md5(ann)),
           "val2014.zip": Archive("zips/val2014.zip", len(img), _md5(img))}
    cat.update(override)
    return cat


class _Server:
    """Serves ``files`` (url path -> bytes) with Range support; the first
    ``cut`` responses send the full Content-Length but stop after
    ``cut_after`` bytes and close the connection (an interrupted transfer)."""

    def __init__(self, files: dict[str, bytes], cut: int = 0, cut_after: int = 0, honour_range: bool = True):
        self.files, self.cut, self.cut_after, self.honour_range = files, cut, cut_after, honour_range
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and server.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut > 0:
                    server.cut -= 1
                    self.wfile.write(body[:server.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _files(ann: bytes = ANN_ZIP, img: bytes = IMG_ZIP) -> dict[str, bytes]:
    return {"/annotations/annotations_trainval2014.zip": ann, "/zips/val2014.zip": img}


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}"


def _quiet(msg: str) -> None:
    pass


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ---------------------------------------------------------------- normal

def test_annotations_only_unpacks_standard_layout(tmp_path):
    with _Server(_files()) as srv:
        out = download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(), progress=False, log=_quiet)
    ann = tmp_path / "annotations" / "person_keypoints_val2014.json"
    assert out == {"annotations": ann, "images": None}
    assert ann.read_bytes() == _coco_json("val2014")
    # only the split's keypoint file is unpacked; the verified archive is kept for the other split
    assert _listing(tmp_path) == ["annotations", "annotations/person_keypoints_val2014.json",
                                  "annotations_trainval2014.zip"]
    assert (tmp_path / "annotations_trainval2014.zip").read_bytes() == ANN_ZIP
    assert load_keypoint_file(ann).schema.num_keypoints == 3


def test_images_unpack_and_rerun_skips(tmp_path):
    cat = _catalogue()
    with _Server(_files()) as srv:
        download_split("val2014", tmp_path, images=True, base_url=srv.url, archives=cat, progress=False,
                       log=_quiet, remove_archives=True)
        first = len(srv.requests)
        msgs = []
        download_split("val2014", tmp_path, images=True, base_url=srv.url, archives=cat, progress=False,
                       log=msgs.append)
        assert len(srv.requests) == first  # nothing fetched again
    assert sorted(p.name for p in (tmp_path / "val2014").iterdir()) == [
        "COCO_val2014_000000000001.jpg", "COCO_val2014_000000000002.jpg"]
    assert (tmp_path / "val2014" / "COCO_val2014_000000000001.jpg").read_bytes() == zipfile.ZipFile(
        io.BytesIO(IMG_ZIP)).read("val2014/COCO_val2014_000000000001.jpg")
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob(".*"))
    assert len(msgs) == 2 and all("skipping" in m for m in msgs)


def test_second_split_reuses_kept_archive(tmp_path):
    cat = _catalogue()
    with _Server(_files()) as srv:
        download_split("val2014", tmp_path, base_url=srv.url, archives=cat, progress=False, log=_quiet)
        download_split("train2014", tmp_path, base_url=srv.url, archives=cat, progress=False, log=_quiet)
        assert len(srv.requests) == 1
    assert (tmp_path / "annotations" / "person_keypoints_train2014.json").read_bytes() == _coco_json("train2014")


def test_env_var_sets_base_url(tmp_path, monkeypatch):
    with _Server(_files()) as srv:
        monkeypatch.setenv(download.BASE_URL_ENV, srv.url)
        download_split("val2014", tmp_path, archives=_catalogue(), progress=False, log=_quiet)
        assert srv.requests == [("/annotations/annotations_trainval2014.zip", None)]


def test_cli_download(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "ARCHIVES", _catalogue())
    with _Server(_files()) as srv:
        res = CliRunner().invoke(main, ["download", "--split", "val2014", "--root", str(tmp_path),
                                        "--images", "--base-url", srv.url])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "annotations" / "person_keypoints_val2014.json").is_file()
    assert len(list((tmp_path / "val2014").iterdir())) == 2


# ---------------------------------------------------------------- resume

def test_interrupted_transfer_resumes_with_range(tmp_path):
    half = len(ANN_ZIP) // 2
    with _Server(_files(), cut=1, cut_after=half) as srv:
        download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(), progress=False, log=_quiet)
    path = "/annotations/annotations_trainval2014.zip"
    assert srv.requests == [(path, None), (path, f"bytes={half}-")]
    assert (tmp_path / "annotations_trainval2014.zip").read_bytes() == ANN_ZIP
    assert (tmp_path / "annotations" / "person_keypoints_val2014.json").read_bytes() == _coco_json("val2014")


def test_part_file_from_earlier_run_is_resumed(tmp_path):
    third = len(ANN_ZIP) // 3
    (tmp_path / "annotations_trainval2014.zip.part").write_bytes(ANN_ZIP[:third])
    with _Server(_files()) as srv:
        download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(), progress=False, log=_quiet)
    assert srv.requests == [("/annotations/annotations_trainval2014.zip", f"bytes={third}-")]
    assert (tmp_path / "annotations_trainval2014.zip").read_bytes() == ANN_ZIP
    assert not (tmp_path / "annotations_trainval2014.zip.part").exists()


def test_server_ignoring_range_restarts_from_zero(tmp_path):
    (tmp_path / "annotations_trainval2014.zip.part").write_bytes(b"x" * 100)  # not a prefix: must be overwritten
    with _Server(_files(), honour_range=False) as srv:
        download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(), progress=False, log=_quiet)
    assert (tmp_path / "annotations_trainval2014.zip").read_bytes() == ANN_ZIP


def test_complete_part_file_gets_416_and_is_verified(tmp_path):
    dest = tmp_path / "a.zip"
    dest.with_name("a.zip.part").write_bytes(ANN_ZIP)
    with _Server(_files()) as srv:
        # size unknown: the tool must ask, get 416 and then verify what it holds
        fetch(srv.url + "/annotations/annotations_trainval2014.zip", dest, size=None, md5=_md5(ANN_ZIP),
              progress=False)
    assert dest.read_bytes() == ANN_ZIP


def test_too_many_interruptions_keeps_part_for_a_later_run(tmp_path):
    step = len(ANN_ZIP) // 10
    with _Server(_files(), cut=10, cut_after=step) as srv:
        with pytest.raises(DownloadError, match="rerun to resume"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(), progress=False,
                           log=_quiet, retries=2)
    part = tmp_path / "annotations_trainval2014.zip.part"
    assert part.read_bytes() == ANN_ZIP[:3 * step]  # three attempts, each resumed where the last stopped
    assert not (tmp_path / "annotations").exists() and not (tmp_path / "annotations_trainval2014.zip").exists()


# ---------------------------------------------------------------- bad inputs

def test_wrong_checksum_rejected_without_output(tmp_path):
    cat = _catalogue(**{"annotations_trainval2014.zip": Archive("annotations/annotations_trainval2014.zip",
                                                                len(ANN_ZIP), "0" * 32)})
    with _Server(_files()) as srv:
        with pytest.raises(DownloadError, match="MD5 .* does not match the published 0{32}"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=cat, progress=False, log=_quiet)
    assert _listing(tmp_path) == []


def test_size_differs_from_published_rejected(tmp_path):
    cat = _catalogue(**{"annotations_trainval2014.zip": Archive("annotations/annotations_trainval2014.zip",
                                                                len(ANN_ZIP) + 5, _md5(ANN_ZIP))})
    with _Server(_files()) as srv:
        with pytest.raises(DownloadError, match=f"server offers {len(ANN_ZIP)} bytes, expected {len(ANN_ZIP) + 5}"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=cat, progress=False, log=_quiet)
    assert _listing(tmp_path) == []


def test_unreachable_server_fails_at_once_with_manual_steps(tmp_path):
    url = _closed_port_url()
    t0 = time.monotonic()
    res = CliRunner().invoke(main, ["download", "--split", "val2014", "--root", str(tmp_path), "--images",
                                    "--base-url", url])
    elapsed = time.monotonic() - t0
    assert res.exit_code == 2
    msg = res.output
    assert f"cannot reach {url}/annotations/annotations_trainval2014.zip" in msg
    assert "by hand" in msg
    # says what to fetch (with the published size and MD5) and where to put it
    assert f"{url}/zips/val2014.zip  ->  {tmp_path.resolve() / 'val2014.zip'}" in msg
    assert "6645013297 bytes, MD5 a3d79f5ed8d289b7a7554ce06a5782b3" in msg
    assert str(tmp_path.resolve() / "annotations" / "person_keypoints_val2014.json") in msg
    assert _listing(tmp_path) == []
    assert elapsed < download.TIMEOUT_S  # no waiting on retries or timeouts


def test_truncated_archive_from_server_rejected(tmp_path):
    cut = ANN_ZIP[: len(ANN_ZIP) - 40]  # the zip's central directory is gone
    cat = _catalogue(**{"annotations_trainval2014.zip": Archive("annotations/annotations_trainval2014.zip",
                                                                None, None)})
    with _Server(_files(ann=cut)) as srv:
        with pytest.raises(DownloadError, match="not a complete zip archive"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=cat, progress=False, log=_quiet)
    assert _listing(tmp_path) == []


def test_truncated_archive_placed_by_hand_rejected_and_kept(tmp_path):
    placed = tmp_path / "annotations_trainval2014.zip"
    placed.write_bytes(ANN_ZIP[:500])
    with pytest.raises(DownloadError, match=r"500 bytes, expected \d+ \(truncated"):
        download_split("val2014", tmp_path, base_url=_closed_port_url(), archives=_catalogue(), progress=False,
                       log=_quiet)
    assert _listing(tmp_path) == ["annotations_trainval2014.zip"]  # the user's file is theirs to delete


def test_damaged_member_leaves_no_output(tmp_path):
    raw = bytearray(ANN_ZIP)
    start = raw.find(b"PK\x03\x04")  # corrupt the first member's compressed bytes, keep the directory
    raw[start + 60:start + 90] = b"\x00" * 30
    data = bytes(raw)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist()[0] == "annotations/person_keypoints_val2014.json"
    with _Server(_files(ann=data)) as srv:
        with pytest.raises(DownloadError, match="damaged"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(ann=data), progress=False,
                           log=_quiet)
    assert _listing(tmp_path) == []


def test_http_404_names_the_url(tmp_path):
    with _Server({}) as srv:
        with pytest.raises(DownloadError, match=r"/annotations/annotations_trainval2014.zip: HTTP 404"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(), progress=False, log=_quiet)
    assert _listing(tmp_path) == []


def test_unsafe_member_path_refused(tmp_path):
    evil = _zip({"annotations/person_keypoints_val2014.json": b"{}", "../escape.txt": b"x"})
    with _Server(_files(ann=evil)) as srv:
        with pytest.raises(DownloadError, match="unsafe member path"):
            download_split("val2014", tmp_path / "root", base_url=srv.url, archives=_catalogue(ann=evil),
                           progress=False, log=_quiet)
    assert not (tmp_path / "escape.txt").exists()
    assert _listing(tmp_path / "root") == []


def test_archive_without_the_split_member_rejected(tmp_path):
    other = _zip({"annotations/instances_val2014.json": b"{}"})
    with _Server(_files(ann=other)) as srv:
        with pytest.raises(DownloadError, match="has no annotations/person_keypoints_val2014.json"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(ann=other), progress=False,
                           log=_quiet)
    assert _listing(tmp_path) == []


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'val2015': choose one of train2014, val2014"):
        download_split("val2015", tmp_path, log=_quiet)
    res = CliRunner().invoke(main, ["download", "--split", "val2015", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "'val2015' is not one of" in res.output
    assert _listing(tmp_path) == []


def test_published_catalogue_covers_every_split():
    for split, (ann, img) in download.SPLITS.items():
        for name in (ann, img):
            a = download.ARCHIVES[name]
            assert a.name == name and a.size > 0 and len(a.md5) == 32
        assert ann.startswith("annotations_trainval") and img == f"{split}.zip"


# ---------------------------------------------------------------- caps (issue 19, item 3)

class _Endless(_Server):
    """Sends ``extra`` bytes past the file, with no Content-Length (reads until the close)."""

    def __init__(self, files, extra: int):
        super().__init__(files)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"   # no Content-Length: the body ends at the close

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(server.files[self.path] + b"\0" * extra)

        self.httpd.RequestHandlerClass = Handler


def _part_sizes(monkeypatch) -> list[int]:
    """The size of the .part file after each transfer (a list filled as they happen)."""
    sizes = []
    real_copy = download._copy

    def copy(resp, part, *a, **k):
        try:
            real_copy(resp, part, *a, **k)
        finally:
            sizes.append(part.stat().st_size)
    monkeypatch.setattr(download, "_copy", copy)
    return sizes


def test_download_stops_at_the_published_size(tmp_path, monkeypatch):
    sizes = _part_sizes(monkeypatch)
    with _Endless(_files(), extra=5 * download.CHUNK) as srv:
        with pytest.raises(DownloadError, match=f"sent more than the {len(ANN_ZIP)} bytes expected"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=_catalogue(), log=_quiet, progress=False)
    assert sizes == [len(ANN_ZIP)]          # the .part never grew past the published size
    assert _listing(tmp_path) == []


def test_archive_that_would_unpack_past_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "UNPACK_FLOOR", 2 ** 20)
    bomb = _zip({"annotations/person_keypoints_val2014.json": b" " * (8 * 2 ** 20)})   # ~8 KB zipped
    assert len(bomb) * download.UNPACK_RATIO < 8 * 2 ** 20
    cat = {"annotations_trainval2014.zip": Archive("annotations/annotations_trainval2014.zip", None, None)}
    with _Server(_files(ann=bomb)) as srv:
        with pytest.raises(DownloadError, match="would unpack 8388608 bytes, more than the"):
            download_split("val2014", tmp_path, base_url=srv.url, archives=cat, log=_quiet, progress=False)
    assert _listing(tmp_path) == []       # the archive (ours) and any partial JSON are gone
    # the images archive too
    root = tmp_path / "img"
    root.mkdir()
    (root / "val2014.zip").write_bytes(_zip({"val2014/a.jpg": b"\0" * (8 * 2 ** 20)}))
    with pytest.raises(DownloadError, match="would unpack"):
        download.unpack_images(root / "val2014.zip", root, "val2014", progress=False)
    assert _listing(root) == ["val2014.zip"]


def test_download_with_no_stated_size_stops_at_the_cap(tmp_path, monkeypatch):
    """No published size and no Content-Length: the .part stops at max_size (by default the
    largest COCO archive), not at a full disk."""
    sizes = _part_sizes(monkeypatch)
    files = _files()
    path = next(iter(files))
    with _Endless(files, extra=3 * download.CHUNK) as srv:
        with pytest.raises(DownloadError, match="sent more than 100000 bytes, with no size stated"):
            download.fetch(srv.url + path, tmp_path / "a.zip", size=None, md5=None, progress=False,
                           max_size=100_000)
    assert sizes == [100_000] and _listing(tmp_path) == []
    assert download.MAX_UNSTATED_SIZE == 19336861798     # train2017.zip, the largest archive
