"""Pictures of the nets: architecture diagrams, first-layer filters, feature maps, Grad-CAM, occlusion, lessons.

`structure` turns `ilsvrc.analysis.summarize` rows into boxes, blocks and stages; `diagram` draws them;
`inspect` loads a checkpoint or a model for the pictures of what a net computes; `lesson` writes the
offline HTML page. matplotlib is imported only inside the drawing functions.
"""
