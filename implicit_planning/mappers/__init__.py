"""Mappers: learned maps from what an agent observes to the occupancy grid a planner plans on.

Empty for now. The workspace-manipulation U-Net (96×96 workspace image → configuration-space
obstacle logits) and the visual-navigation panorama CNN will live here, each a pure Flax module
composed with any planner into one model (the mapper differentiated explicitly, the planner in
either mode). See WORKSPACE.md, "How to add a task / mapper".
"""
