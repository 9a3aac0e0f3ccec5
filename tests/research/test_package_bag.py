"""research.package.bag: the zip of a bag, with small files appended by its own fast path
(`_write_bytes`) between files zipfile writes itself. Read back with zipfile and bagit."""

import zipfile

import bagit

from research.package.bag import SMALL_FILE_BYTES, BagZip


def _payload(tmp_path):
    table = tmp_path / "table.csv"
    table.write_bytes(b"pid,value\n" + b"".join(b"%016x,%d\n" % (n, n) for n in range(20000)))
    return [
        ("phenopackets/a.json", b'{"id": "a"}\n'),
        ("phenopackets/b.json", '{"label": "caf\u00e9 \u2013 \U0001f600"}\n'.encode()),
        ("empty.txt", b""),
        ("table.csv", table),  # written by zipfile, between small files
        ("figure.png", b"\x89PNG not really"),
        ("large.json", b"[" + b"1," * SMALL_FILE_BYTES + b"1]"),  # over the small-file limit
        ("z/last.json", b"{}"),
    ]


def _build(tmp_path, name):
    bag = BagZip(tmp_path / name)
    bag.add(_payload(tmp_path))
    bag.close({"External-Identifier": "test"})
    return tmp_path / name


def test_every_file_reads_back_whole_and_the_bag_validates(tmp_path):
    target = _build(tmp_path, "bag.zip")
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None  # every CRC matches
        for relative, source in _payload(tmp_path):
            expected = source if isinstance(source, bytes) else source.read_bytes()
            assert archive.read(f"data/{relative}") == expected
        infos = {info.filename: info for info in archive.infolist()}
        assert infos["data/figure.png"].compress_type == zipfile.ZIP_STORED
        assert infos["data/phenopackets/a.json"].compress_type == zipfile.ZIP_DEFLATED
        assert infos["data/large.json"].compress_size < infos["data/large.json"].file_size / 10
        assert [name for name in archive.namelist() if name.startswith("data/")] == [
            f"data/{relative}" for relative, _ in _payload(tmp_path)
        ]
        manifest = archive.read("manifest-sha256.txt").decode().splitlines()
        archive.extractall(tmp_path / "extracted")
    assert [line.split("  ", 1)[1] for line in manifest] == sorted(f"data/{r}" for r, _ in _payload(tmp_path))
    bag = bagit.Bag(str(tmp_path / "extracted"))
    bag.validate()
    assert (
        bag.info["Payload-Oxum"]
        == f"{sum(len(c) if isinstance(c, bytes) else c.stat().st_size for _, c in _payload(tmp_path))}.7"
    )


def test_the_same_files_give_the_same_bytes(tmp_path):
    assert _build(tmp_path, "one.zip").read_bytes() == _build(tmp_path, "two.zip").read_bytes()
