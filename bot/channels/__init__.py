"""The messengers branchbot speaks through, beside the channel-neutral core."""
