"""Render solution/spec.py into the SolutionPackager source tree under solution/src/.

Run `python -m solution.generate` after editing the spec and commit the XML: the XML is the
solution source; tests/unit/test_solution_generate.py fails if the two disagree.
Files under src/ that this module does not render (WebResources/, added by other areas) are left alone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from solution import app, components, forms, roles
from solution.entity_xml import entity_element, relationships, to_bytes, with_xsi
from solution.spec import ALL

SRC = Path(__file__).resolve().parent / "src"


def render() -> dict[str, bytes]:
    """Relative path (posix) -> file bytes, for every generated file."""
    files: dict[str, bytes] = {}
    for table in ALL:
        files[f"Entities/{table.schema_name}/Entity.xml"] = to_bytes(with_xsi(entity_element(table)))
    by_entity: dict[str, list[ET.Element]] = defaultdict(list)
    names = ET.Element("EntityRelationships")
    for referenced, rel in relationships(ALL):
        by_entity[referenced].append(rel)
        ET.SubElement(names, "EntityRelationship", Name=rel.get("Name", ""))
    files["Other/Relationships.xml"] = to_bytes(with_xsi(names))
    for referenced, rels in sorted(by_entity.items()):
        root = with_xsi(ET.Element("EntityRelationships"))
        root.extend(rels)
        files[f"Other/Relationships/{referenced}.xml"] = to_bytes(root)
    files.update(components.render())
    files.update(forms.render(ALL))
    files.update(roles.render())
    files.update(app.render())
    return files


def write(src_dir: Path = SRC) -> list[Path]:
    written = []
    for rel, data in render().items():
        path = src_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            written.append(path)
    return written


if __name__ == "__main__":
    for p in write():
        print(p)
