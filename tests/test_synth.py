import json

from rag.eval.propose import admit, parse_proposal, propose, write_candidates
from rag.types import Chunk

from fakes import FakeGenerator

TEXT = "Intro. The Huthis have controlled Yemen's northwest since 2014. More text."
CHUNK = Chunk("c1", "a.txt", 7, 63, TEXT[7:63])


def test_parse_and_admit_only_verbatim_answers():
    good = parse_proposal("Question: Since when have the Huthis controlled the northwest?\nAnswer: 2014")
    assert admit(good, CHUNK) == (True, "admitted")
    invented = parse_proposal("Question: Who leads the Huthis?\nAnswer: Abdul-Malik al-Houthi")
    assert admit(invented, CHUNK) == (False, "answer not verbatim in the passage")
    giveaway = parse_proposal("Question: Did they control it since 2014?\nAnswer: 2014")
    assert admit(giveaway, CHUNK)[0] is False
    assert admit(parse_proposal("no format at all"), CHUNK) == (False, "unparsable reply")


def test_candidates_are_written_for_review_with_exact_evidence(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT)
    generator = FakeGenerator("Question: Since when have the Huthis held the northwest?\nAnswer: 2014")
    candidates, reasons = propose([CHUNK], generator, 1, progress=False)
    assert reasons == {"admitted": 1}
    path = write_candidates(candidates, tmp_path / "eval" / "candidates.jsonl", tmp_path)
    item = json.loads(path.read_text())
    assert item["answer"] == "2014" and item["evidence"] == ["The Huthis have controlled Yemen's northwest since 2014."]
    assert "candidate" in item["review"]
