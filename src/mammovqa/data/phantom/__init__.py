"""The phantom: a seeded synthetic mammography benchmark whose labels *cause* what is in the image.

Why a phantom: most MammoVQA sources are credentialed, and real labels are noisy, so a pipeline check on
real data cannot tell a broken model from a hard question. In the phantom every label is drawn first and
the image is rendered from it, so a perfect reader exists by construction and each topic can be verified
from pixels (tests/test_phantom.py measures each link below).

Causal design (label -> pixel property)

========================  ===================================================================================
label                     what it changes in the image
========================  ===================================================================================
Laterality                side of the chest wall. Convention: a Right breast has its chest wall on the LEFT
                          image edge and extends to the right; a Left breast is the mirror image (chest wall
                          on the RIGHT edge). The half holding the breast is the brighter half.
View                      MLO: bright pectoral-muscle triangle in the chest-wall top corner and a breast that
                          reaches the top edge (axilla); CC: no muscle, that corner is air.
ACR density (A-D)         fibroglandular fraction fg of breast pixels that are bright glandular tissue
                          (A 0.04-0.20, B 0.22-0.44, C 0.48-0.68, D 0.72-0.90) and the contrast of the fine
                          texture inside it; both increase with density.
Background tissue         thresholds on the same fg (< 0.30 Fatty, < 0.60 Fatty-glandular, else
                          Dense-glandular), so it agrees with density but is not a copy of it.
Masking potential (1-8)   rises linearly with fg plus reader noise (sd 0.6 level): the denser, the more masking.
Abnormality               the shapes drawn: Mass (round/oval circumscribed, irregular lobulated, spiculated with
                          radiating lines), Calcification (clusters of small bright dots; fine pleomorphic =
                          many tiny dots, coarse = few large), Architectural distortion (radiating lines without
                          a central mass), Asymmetry (broad soft density). "Normal" when nothing is drawn.
Pathology                 acts only through morphology: malignant masses are mostly irregular/spiculated and
                          malignant calcifications mostly fine pleomorphic; benign ones the reverse.
BI-RADS                   a reader's assessment drawn from morphology (circumscribed mass 2/3, spiculated
                          4b-5, coarse calcification 2, fine pleomorphic 4a-5, distortion 0/4, asymmetry 0/3/4a);
                          an image takes its worst lesion (order 1<2<3<0<4a<4b<4c<5); no lesion: 1 (92%) or 0.
                          4a/4b/4c are kept in Record.extra and collapse to "Bi-Rads 4" in the QA label.
Subtlety (Level 1-5)      lesion contrast, increasing with the level (Level 1 is the faintest).
lesion size (mm)          radius in pixels through the site's pixel spacing.
site (site0-site7)        no label: field of view (pixel spacing), blur, noise, grey-level curve, background
                          level. Internal sets use sites 0-3, external sets 4-7 (a domain shift).
========================  ===================================================================================

Structure: patients own two consecutive breast images (CC and MLO of one breast) sharing laterality,
density and lesions (placed at corresponding normalised positions), so grouped splits matter. Exams
(Phantom-EMBED) hold RCC, LCC, RMLO, LMLO sharing one density; exam BI-RADS is the worst breast. Finding
parts hold, for every lesion of their sibling breast part, a square crop around it and a same-sized "normal"
crop placed with a seeded generator wholly inside breast tissue and outside every lesion's box; both are cut
from the same final 8-bit image, so they share all intensity processing. Phantom-DBT renders its own source
images (under ``<dataset>/source/``) and yields only crops.

Randomness is keyed by (seed, dataset, draw, index): same seed gives identical bytes whatever the worker count.
Modules: ``anatomy`` (outline, tissue, pectoral), ``lesions`` (sampling and drawing), ``sites``
(acquisition chain), ``generate`` (patients, exams, crops, the ``PhantomSource``).
"""

from .generate import PhantomSource, generate, render_image, rng_for

__all__ = ["PhantomSource", "generate", "render_image", "rng_for"]
