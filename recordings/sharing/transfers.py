"""Where a recipient may receive call audio from (GDPR Chapter V)."""

from __future__ import annotations

# EU member states plus Iceland, Liechtenstein and Norway (ISO 3166-1 alpha-2; Greece is GR).
EEA_COUNTRIES = frozenset(
    {
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"),
        *("IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        *("IS", "LI", "NO"),
    }
)
# Countries with an adequacy decision under Art. 45 (the US only for organisations certified under
# the EU-US Data Privacy Framework: check the certification before relying on it).
ADEQUACY_COUNTRIES = frozenset(
    {"AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "UY", "US"}
)


def transfer_problem(*, country: str, ground: str, role: str, dpa_signed: bool) -> str | None:
    """Why this recipient may not receive recordings, or None when it may."""
    country = country.upper()
    if role == "processor" and not dpa_signed:
        return "No data processing agreement is signed with this processor (Art. 28(3))."
    if country in EEA_COUNTRIES:
        return None
    if not ground:
        return f"{country} is outside the EU/EEA and no transfer ground is recorded (Art. 44)."
    if ground == "adequacy" and country not in ADEQUACY_COUNTRIES:
        return f"{country} has no adequacy decision; record standard contractual clauses or BCRs instead."
    return None
