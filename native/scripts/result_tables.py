# Shared by the GPU checks' table scripts (native/scripts/gpu_table.py,
# native/scripts/train_table.py): reading the measurements, and printing a table that is also
# written as Markdown rows for benchmarks/RESULTS.md.
import json
import os


def load_rows(path):
    """The JSON objects of a file: a JSON list, or one object per line (a line cut short by a
    timeout, or a line that is not JSON, is skipped). No file: no rows."""
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        text = fh.read()
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        pass
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


def publish(markdown_path, title, note, header, rows):
    """Prints the table under its title, and writes it as Markdown to markdown_path."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    for row in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
    with open(markdown_path, "w") as fh:
        fh.write(f"{title} ({note}):\n\n")
        fh.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
        for row in rows:
            fh.write("| " + " | ".join(str(x) for x in row) + " |\n")
