"""Only UTF-8 JSON is read, as the README says (issue 19, item 6): UTF-16 and UTF-8 with a
byte-order mark are refused in one line, by every reader's one JSON reader."""
import json

import pytest

from cococrowd.cocofile import CocoFormatError, read_json

DOC = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "p\u00e9rson"}]}


@pytest.mark.parametrize("encoding, problem", [("utf-16", "not UTF-8 text"), ("utf-16-le", "not UTF-8 text"),
                                               ("utf-32", "not UTF-8 text"),
                                               ("utf-8-sig", "starts with a byte-order mark")])
def test_other_encodings_are_refused(tmp_path, encoding, problem):
    path = tmp_path / "x.json"
    path.write_bytes(json.dumps(DOC, ensure_ascii=False).encode(encoding))
    with pytest.raises(CocoFormatError, match=problem) as err:
        read_json(path)
    assert str(err.value).startswith(f"{path}: ")


def test_utf8_is_read(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(json.dumps(DOC, ensure_ascii=False).encode("utf-8"))
    assert read_json(path) == DOC
