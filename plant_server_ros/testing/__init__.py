"""Test a controller against the plant: ``dip_test``, ``run_campaign``, a pytest fixture."""

from .runner import CampaignResult, EpisodeResult, run_campaign, SetupError

__all__ = ['CampaignResult', 'EpisodeResult', 'run_campaign', 'SetupError']
