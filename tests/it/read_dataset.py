"""Reads the dataset under a harvest's output root with two engines the harvester
did not write, DuckDB and polars (from PyPI), checks that they agree, and prints
what they read as JSON for the integration tests to compare with the per-file
outputs.

    python3 tests/it/read_dataset.py OUT

Each engine scans every file of a table at once, so a file whose schema differs
from the others fails the read.
"""

import json
import sys

import duckdb
import polars as pl


def duckdb_tables(dataset):
    def query(sql):
        result = duckdb.sql(sql)
        names = result.columns
        return [dict(zip(names, row)) for row in result.fetchall()]

    stats = f"read_parquet('{dataset}/run_stats/**/*.parquet', hive_partitioning = true)"
    samples = f"read_parquet('{dataset}/samples/**/*.parquet', hive_partitioning = true)"
    return {
        "run_stats": query(
            f"""SELECT content_hash, CAST(run_uuid AS VARCHAR) AS run_uuid,
                       CAST(robot_id AS BIGINT) AS robot_id,
                       CAST(cell AS VARCHAR) AS cell, CAST(date AS VARCHAR) AS date,
                       labels, distance_mm, CAST("rows" AS BIGINT) AS "rows"
                FROM {stats} ORDER BY content_hash, run_uuid, robot_id"""
        ),
        "samples": query(
            f"""SELECT CAST(cell AS VARCHAR) AS cell, CAST(date AS VARCHAR) AS date,
                       CAST(run_uuid AS VARCHAR) AS run_uuid, labels,
                       COUNT(*) AS "rows", COUNT(x_1) AS x_1_readings,
                       CAST(epoch_ns(MIN(time)) AS BIGINT) AS first_ns,
                       CAST(epoch_ns(MAX(time)) AS BIGINT) AS last_ns
                FROM {samples} GROUP BY ALL
                ORDER BY run_uuid, cell NULLS FIRST, date"""
        ),
        "sample_columns": [
            row[0] for row in duckdb.sql(f"DESCRIBE SELECT * FROM {samples}").fetchall()
        ],
    }


def polars_tables(dataset):
    def scan(table):
        return pl.scan_parquet(f"{dataset}/{table}/**/*.parquet", hive_partitioning=True)

    text = pl.String
    stats = (
        scan("run_stats")
        .select(
            "content_hash",
            pl.col("run_uuid").cast(text),
            pl.col("robot_id").cast(pl.Int64),
            pl.col("cell").cast(text),
            pl.col("date").cast(text),
            "labels",
            "distance_mm",
            pl.col("rows").cast(pl.Int64),
        )
        .sort("content_hash", "run_uuid", "robot_id")
        .collect()
    )
    samples = scan("samples")
    grouped = (
        samples.group_by(
            pl.col("cell").cast(text),
            pl.col("date").cast(text),
            pl.col("run_uuid").cast(text),
            "labels",
        )
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col("x_1").count().cast(pl.Int64).alias("x_1_readings"),
            pl.col("time").min().dt.epoch("ns").alias("first_ns"),
            pl.col("time").max().dt.epoch("ns").alias("last_ns"),
        )
        .sort("run_uuid", "cell", "date", nulls_last=False)
        .collect()
    )
    return {
        "run_stats": stats.to_dicts(),
        "samples": grouped.to_dicts(),
        "sample_columns": samples.collect_schema().names(),
    }


def main():
    dataset = f"{sys.argv[1]}/dataset"
    by_duckdb = duckdb_tables(dataset)
    by_polars = polars_tables(dataset)
    for table in by_duckdb:
        if by_duckdb[table] != by_polars[table]:
            sys.exit(
                f"DuckDB and polars disagree on {table}:\n"
                f"duckdb: {by_duckdb[table]}\npolars: {by_polars[table]}"
            )
    json.dump(by_duckdb, sys.stdout)


if __name__ == "__main__":
    main()
