"""Review inspection (workflows/review-inspection.yaml): grant review credits from a day's photos.

plan → (batch transform) → decide → (people) → record → summarise; the credit rules live in rules.py and
read their data (which class earns which review type's credits, the confidence threshold) from the
function's environment.
"""
