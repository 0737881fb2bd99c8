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


def test_the_same_booking_action_again_counts_only_with_another_booking_named_in_its_clause():
    two = Email("p@example.org", "Cancellations",
                "Hi, please cancel BK-40817 on Thursday. And cancel BK-40833 on Friday as well, we are away.")
    found = second_request(KeywordTriager(), two, TriageResult("cancel_booking", booking_id="BK-40817"))
    assert (found.category, found.booking_id) == ("cancel_booking", "BK-40833")
    # the first request's id unknown: which booking is the second cannot be told
    assert second_request(KeywordTriager(), two, TriageResult("cancel_booking")) is None
    # the same booking named twice, or a clause that names none: one request
    once = Email("p@example.org", "Cancel", "Please cancel BK-40817 today. Yes, cancel BK-40817 as I said before.")
    assert second_request(KeywordTriager(), once, TriageResult("cancel_booking", booking_id="BK-40817")) is None
    again = Email("p@example.org", "Cancel", "Please cancel BK-40817 today. I really must cancel it, sorry.")
    assert second_request(KeywordTriager(), again, TriageResult("cancel_booking", booking_id="BK-40817")) is None
    # a second account is not told apart from the first
    accounts = Email("h@example.org", "Accounts", "Please reset my login hcole. And reset the login of jcole_14 too.")
    assert second_request(KeywordTriager(), accounts, TriageResult("reset_password", username="hcole")) is None


def test_it_runs_on_a_real_triager(tiny_base_dir):
    triager = load_triager(str(tiny_base_dir), adapter=None)
    result = triager.triage(MAIL)
    found = second_request(triager, MAIL, result)
    assert found is None or (found.category in CATEGORIES and found.category != "other"
                             and (found.category != result.category or found.booking_id != result.booking_id))
    assert abs(sum(triager.category_probabilities(MAIL).values()) - 1.0) < 1e-5
