"""parquet/: the CSV tables again as Parquet, streamed a block at a time (memory stays flat).

The CSV reader reads well ahead of its consumer (some sixteen blocks), so blocks are small; a row
group is made of several blocks, so that the Parquet files keep a usual row group size. The
Arrow types come from the same column definitions as the codebook (research.package.columns).
"""

from pathlib import Path

from research.package.columns import Table

# At 800,000 assessments: 64 KB blocks and 16K-row groups peak at 41 MB above the start, 128 KB
# and 32K rows at 66 MB, for 0.1 s less (bench/README.md).
BLOCK_BYTES = 64 << 10
ROW_GROUP_ROWS = 16 * 1024


def _arrow_type(column_type: str):
    import pyarrow as pa

    return {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}[column_type]


def csv_to_parquet(csv_path: Path, parquet_path: Path, table: Table) -> None:
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(column.name, _arrow_type(column.type)) for column in table.columns])
    reader = pv.open_csv(
        csv_path,
        read_options=pv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pv.ConvertOptions(
            column_types=schema,
            null_values=list(table.missing_values),
            strings_can_be_null=True,
            true_values=["true"],
            false_values=["false"],
        ),
    )
    with pq.ParquetWriter(parquet_path, schema, compression="zstd") as writer:
        pending, rows = [], 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=rows)
                pending, rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=rows)
    pa.default_memory_pool().release_unused()  # give the freed blocks back before the next step
