"""Reads every Parquet output under two harvests' output roots, the same log
harvested with different `--encoding` and `--compression`, with DuckDB and with
polars (from PyPI), and checks that each engine reads the same values from both:
floats bit for bit (NaN payloads and signed zeros included), nulls in the same
places, instants to the nanosecond, every other column equal. Prints, as JSON,
per file of the second root (relative path): its rows and columns, and the
encodings and codecs of its float and instant column chunks as DuckDB's
`parquet_metadata` lists them.

    python3 tests/it/compare_encodings.py EXPECTED_OUT ACTUAL_OUT

Exits non-zero, naming the file and column, at the first difference.
"""

import json
import math
import os
import struct
import sys

import duckdb
import polars as pl


def parquet_files(root):
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files.extend(
            os.path.relpath(os.path.join(folder, name), root)
            for name in names
            if name.endswith(".parquet")
        )
    return sorted(files)


def comparable(value):
    """A float as its 64 bits, anything else as it is."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value).hex())
    return value


def by_duckdb(path):
    source = f"read_parquet('{path}', hive_partitioning = false)"
    columns = duckdb.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
    # Instants to the nanosecond: Python's datetime holds microseconds.
    select = ", ".join(
        f'epoch_ns("{name}") AS "{name}"' if kind.startswith("TIMESTAMP") else f'"{name}"'
        for name, kind, *_ in columns
    )
    result = duckdb.sql(f"SELECT {select} FROM {source}")
    rows = result.fetchall()
    return {
        name: [comparable(row[i]) for row in rows] for i, name in enumerate(result.columns)
    }


def by_polars(path):
    frame = pl.read_parquet(path, hive_partitioning=False).with_columns(
        pl.col(pl.Datetime).dt.epoch("ns")
    )
    return {
        name: [comparable(v) for v in frame.get_column(name).to_list()]
        for name in frame.columns
    }


def chunks(path):
    """(kind, encodings, codec) of every float and instant column chunk."""
    return sorted(
        set(
            duckdb.sql(
                f"""SELECT CASE WHEN s.logical_type LIKE 'TimestampType%' THEN 'instant'
                                ELSE 'float' END,
                           m.encodings, m.compression
                    FROM parquet_metadata('{path}') m
                    JOIN parquet_schema('{path}') s ON s.name = m.path_in_schema
                    WHERE m.type IN ('DOUBLE', 'FLOAT')
                       OR s.logical_type LIKE 'TimestampType%'"""
            ).fetchall()
        )
    )


def main():
    expected_root, actual_root = sys.argv[1], sys.argv[2]
    files = parquet_files(actual_root)
    if files != parquet_files(expected_root):
        sys.exit(f"the outputs differ: {parquet_files(expected_root)} vs {files}")
    summary = {}
    for rel in files:
        expected_path = os.path.join(expected_root, rel)
        actual_path = os.path.join(actual_root, rel)
        for engine, read in [("duckdb", by_duckdb), ("polars", by_polars)]:
            expected, actual = read(expected_path), read(actual_path)
            if list(actual) != list(expected):
                sys.exit(f"{rel}: {engine} reads columns {list(actual)}, not {list(expected)}")
            for column, values in expected.items():
                if actual[column] != values:
                    row = next(
                        (i for i, (a, b) in enumerate(zip(actual[column], values)) if a != b),
                        min(len(values), len(actual[column])),
                    )
                    sys.exit(f"{rel}: {engine} reads {column} differently from row {row}")
        floats = [
            values
            for values in expected.values()
            if any(isinstance(v, tuple) and v[0] == "float" for v in values)
        ]
        summary[rel] = {
            "rows": len(next(iter(expected.values()), [])),
            "columns": len(expected),
            "float_columns": len(floats),
            "nulls": sum(v is None for values in floats for v in values),
            "nans": sum(
                math.isnan(struct.unpack("<d", bytes.fromhex(v[1]))[0])
                for values in floats
                for v in values
                if v is not None
            ),
            "chunks": [list(chunk) for chunk in chunks(actual_path)],
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
