"""The committed XML under solution/src is the solution source; it must equal what spec.py renders."""

from __future__ import annotations

from solution import generate


def test_committed_source_matches_spec():
    stale = [rel for rel, data in generate.render().items()
             if not (generate.SRC / rel).exists() or (generate.SRC / rel).read_bytes() != data]
    assert not stale, f"run `cspbridge solution generate` and commit: {stale[:5]}"


def test_no_orphan_generated_files():
    rendered = set(generate.render())
    owned = ("Entities", "Other", "SdkMessageProcessingSteps", "environmentvariabledefinitions",
             "PluginAssemblies", "Roles")
    on_disk = {p.relative_to(generate.SRC).as_posix() for p in generate.SRC.rglob("*")
               if p.is_file() and p.relative_to(generate.SRC).parts[0] in owned}
    assert on_disk <= rendered, sorted(on_disk - rendered)
