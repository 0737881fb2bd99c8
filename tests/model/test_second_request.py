"""Finding a mail's second request (model/second_request.py)."""

from core.mail import Email
from model.inference import load_triager
from model.schema import CATEGORIES, TriageResult
from model.second_request import SecondRequest, clauses, second_request

MAIL = Email("Kwabena <k@example.org>", "login and Saturday",
             "Hi, two things:\n1) I can't log in, username kowusu_tennis, it says wrong password. Can you reset it?\n"
             "2) Because I can't get in, could you please cancel my Saturday 9am court for me? It's BK-35209.\nThanks")


class KeywordTriager:
    """Scores a clause by its words, as a model would after training: enough to test the logic."""

    tokenizer = None

    def category_probabilities(self, email):
        words = {"reset": "reset_password", "cancel": "cancel_booking"}
        found = next((category for word, category in words.items() if word in email.body), "other")
        return {category: 0.96 if category == found else 0.01 for category in CATEGORIES}


def test_clauses_split_sentences_lines_and_numbered_items():
    parts = clauses(MAIL.body)
    assert "Can you reset it?" in parts and "It's BK-35209." not in parts  # under three words
    assert any(part.startswith("2) Because") for part in parts)


def test_the_other_action_and_its_booking_id_are_found():
    first = TriageResult("reset_password", username="kowusu_tennis")
    found = second_request(KeywordTriager(), MAIL, first)
    assert found == SecondRequest("cancel_booking", "BK-35209", found.clause, 0.96)


def test_no_second_request_beside_the_same_action_or_other():
    assert second_request(KeywordTriager(), MAIL, TriageResult("other")) is None
    single = Email("a@example.org", "pw", "Please reset my password. I cannot reset it myself.")
    assert second_request(KeywordTriager(), single, TriageResult("reset_password")) is None


def test_it_runs_on_a_real_triager(tiny_base_dir):
    triager = load_triager(str(tiny_base_dir), adapter=None)
    result = triager.triage(MAIL)
    found = second_request(triager, MAIL, result)
    assert found is None or (found.category in CATEGORIES and found.category != result.category)
    assert abs(sum(triager.category_probabilities(MAIL).values()) - 1.0) < 1e-5
