"""Data: the references the catalogue, the assessment and the report cite, by key.

Every key is one of the References of ``shared/domain/clinical-notes.md`` (``[Altman 1991]``),
with the citation and the DOI/PMID/URL the notes give for it; nothing is added that the notes
do not say. ``kind`` tells a reader what weight a source carries: a primary study, a
guideline or consensus of a professional body, or a secondary text (labelled as such wherever
it is shown).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["REFERENCES", "Reference", "ReferenceKind", "reference"]


class ReferenceKind(StrEnum):
    """What weight a source carries."""

    PRIMARY = "primary"
    GUIDELINE = "guideline"
    SECONDARY = "secondary"


@dataclass(frozen=True)
class Reference:
    """One entry of the clinical notes' References list.

    Attributes:
        key: The notes' citation key, without brackets ("Altman 1991").
        citation: Authors, year, title and journal as the notes give them.
        links: DOI, PubMed or publisher links as the notes give them (may be empty).
        kind: Primary source, guideline/professional body, or secondary text.

    """

    key: str
    citation: str
    links: tuple[str, ...]
    kind: ReferenceKind = ReferenceKind.PRIMARY

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"key": self.key, "citation": self.citation, "links": list(self.links),
                "kind": self.kind.value}


_P, _G, _S = ReferenceKind.PRIMARY, ReferenceKind.GUIDELINE, ReferenceKind.SECONDARY

REFERENCES: dict[str, Reference] = {r.key: r for r in (
    Reference("ACSM 2021", "American College of Sports Medicine. Stretching and flexibility "
              "guidelines update. ACSM Certified blog, 18 March 2021.",
              ("https://www.acsm.org/all-blog-posts/certification-blog/acsm-certified-blog/"
               "2021/03/18/stretching-and-flexibility-guidelines-update",), _G),
    Reference("Garber 2011", "Garber CE, Blissmer B, Deschenes MR, et al. American College of "
              "Sports Medicine position stand. Quantity and quality of exercise for developing "
              "and maintaining cardiorespiratory, musculoskeletal, and neuromotor fitness in "
              "apparently healthy adults: guidance for prescribing exercise. Med Sci Sports "
              "Exerc 2011;43(7):1334–1359.",
              ("https://doi.org/10.1249/MSS.0b013e318213fefb",), _G),
    Reference("Altman 1991", "Altman R, Alarcón G, Appelrouth D, et al. The American College of "
              "Rheumatology criteria for the classification and reporting of osteoarthritis of "
              "the hip. Arthritis Rheum 1991;34(5):505–514.",
              ("https://doi.org/10.1002/art.1780340502",
               "https://pubmed.ncbi.nlm.nih.gov/2025304/"), _G),
    Reference("Eannucci 2019", "Eannucci EF, Barlow BT, Carroll KM, Sculco PK, Jerabek SA, "
              "Mayman DJ. A protocol of pose avoidance in place of hip precautions after "
              "posterior-approach total hip arthroplasty may not increase risk of post-operative "
              "dislocation. HSS J 2019;15(3):247–253.",
              ("https://doi.org/10.1007/s11420-019-09708-9",)),
    Reference("Warwick 2016", "Griffin DR, Dickenson EJ, O'Donnell J, et al. The Warwick "
              "Agreement on femoroacetabular impingement syndrome (FAI syndrome): an "
              "international consensus statement. Br J Sports Med 2016;50(19):1169–1176.",
              ("https://doi.org/10.1136/bjsports-2016-096743",
               "https://pubmed.ncbi.nlm.nih.gov/27629403/"), _G),
    Reference("StatPearls FAI", "StatPearls. Femoroacetabular impingement. StatPearls "
              "Publishing (a reviewed clinical reference text).",
              ("https://statpearls.com/kb/viewarticle/37128/",), _S),
    Reference("Peck 2017", "Peck DM, Voss LM, Voss TT. Slipped capital femoral epiphysis: "
              "diagnosis and management. Am Fam Physician 2017;95(12):779–784.", ()),
    Reference("GPonline red flags", "Singh P. Hip pain in adults – red flag symptoms. GPonline "
              "(professional press, not peer-reviewed; a secondary list).",
              ("https://www.gponline.com/hip-pain-adults-red-flag-symptoms/"
               "musculoskeletal-disorders/article/1460668",), _S),
    Reference("Malfait 2017", "Malfait F, Francomano C, Byers P, et al. The 2017 international "
              "classification of the Ehlers–Danlos syndromes. Am J Med Genet C Semin Med Genet "
              "2017;175(1):8–26.",
              ("https://doi.org/10.1002/ajmg.c.31552",
               "https://pubmed.ncbi.nlm.nih.gov/28306229/"), _G),
    Reference("Malek 2021", "Malek S, Reinhold EJ, Pearce GS. The Beighton Score as a measure "
              "of generalised joint hypermobility. Rheumatol Int 2021;41(10).",
              ("https://doi.org/10.1007/s00296-021-04832-4",
               "https://pmc.ncbi.nlm.nih.gov/articles/PMC8390395/")),
    Reference("Uding 2019", "Uding A, Bloom NJ, Commean PK, Hillen TJ, Patterson JD, Clohisy "
              "JC, Harris-Hayes M. Clinical tests to determine femoral version category in "
              "people with chronic hip joint pain and asymptomatic controls. Musculoskelet Sci "
              "Pract 2019;39:115–122.",
              ("https://doi.org/10.1016/j.msksp.2018.12.003",
               "https://pubmed.ncbi.nlm.nih.gov/30553987/")),
    Reference("Tak 2017", "Tak I, Engelaar L, Gouttebarge V, et al. Is lower hip range of "
              "motion a risk factor for groin pain in athletes? A systematic review with "
              "clinical applications. Br J Sports Med 2017;51(22):1611–1621.",
              ("https://doi.org/10.1136/bjsports-2016-096619",
               "https://pubmed.ncbi.nlm.nih.gov/28432076/")),
    Reference("Thomas 2018", "Thomas E, Bianco A, Paoli A, Palma A. The relation between "
              "stretching typology and stretching duration: the effects on range of motion. "
              "Int J Sports Med 2018.",
              ("https://unipa.it/persone/docenti/p/antonio.palma/en/?idPubblicazione=345757"
               "&pagina=pubblicazione",)),
)}


def reference(key: str) -> Reference:
    """Return the reference with ``key`` (a KeyError names a key the notes do not have)."""
    return REFERENCES[key]
