"""The suite's own DDS domain: one that no participant on this machine is on."""

import random
import socket

from plant_server_ros.ros import dds_domain
import pytest


def test_a_claimed_domain_is_taken_for_the_next_run_until_released():
    domain, hold = dds_domain.claim_free_domain(rng=random.Random(3))
    try:
        assert dds_domain.in_use(domain)
        # Every other run looks elsewhere, whatever order it tries.
        others = [dds_domain.claim_free_domain(rng=random.Random(seed)) for seed in range(5)]
        try:
            assert domain not in [d for d, _ in others]
        finally:
            for _, other in others:
                other.close()
    finally:
        hold.close()
    assert not dds_domain.in_use(domain)


def test_a_domain_with_any_of_its_first_participants_is_in_use():
    domain, hold = dds_domain.claim_free_domain()
    hold.close()
    for participant in (0, 7, dds_domain.PARTICIPANTS - 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(('0.0.0.0', dds_domain.discovery_port(domain, participant)))
            assert dds_domain.in_use(domain)
    again, hold = dds_domain.claim_free_domain(domains=[domain])
    hold.close()
    assert again == domain


def test_no_free_domain_is_said_in_one_line():
    domain, hold = dds_domain.claim_free_domain()
    try:
        with pytest.raises(RuntimeError, match='has a DDS participant on this machine: set '
                                               'ROS_DOMAIN_ID'):
            dds_domain.claim_free_domain(domains=[domain])
    finally:
        hold.close()


def test_a_running_fast_dds_participant_marks_its_domain():
    rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 wheels) is not installed')
    domain, hold = dds_domain.claim_free_domain()
    hold.close()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        node = rclpy.create_node('domain_probe', context=context)
        try:
            assert dds_domain.in_use(domain)
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
