"""parquet/: the CSV tables again as Parquet, streamed a block at a time (memory stays flat).

The Arrow types come from the same column definitions as the codebook (research.package.columns).
"""

from pathlib import Path

from research.package.columns import Table

BLOCK_BYTES = 8 << 20


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
        for batch in reader:
            writer.write_batch(batch)
