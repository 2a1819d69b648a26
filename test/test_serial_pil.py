"""
Processor in the loop: the ATmega328P firmware in simavr, judged by dip_test.

The firmware and the harness are built here from source (nothing compiled
is committed).  The shipped campaign runs through the serial door in
lock-step with the firmware as the controller: every episode must pass, each
with the cycles per step the firmware counted in the simulator; the
nominal scenario is judged on them too (``max_compute_fraction``).  Without
avr-gcc, avr-libc, simavr's headers and library or libelf the tests skip
and say which is missing (.ci/run installs them).
"""

from pathlib import Path
import shutil
import subprocess

import pytest

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / 'examples' / 'firmware' / 'avr'
AVR_LIBC = ('/usr/lib/avr/include/avr/io.h', '/usr/avr/include/avr/io.h')
NEEDED = (
    ('avr-gcc (Debian: gcc-avr)', lambda: shutil.which('avr-gcc')),
    ('avr-libc', lambda: any(Path(p).exists() for p in AVR_LIBC)),
    ("simavr's headers (Debian: libsimavr-dev)",
     lambda: Path('/usr/include/simavr/sim_avr.h').exists()),
    ('libelf (Debian: libelf-dev)', lambda: Path('/usr/include/libelf.h').exists()),
    ('a C compiler', lambda: shutil.which('cc')),
    ('make', lambda: shutil.which('make')),
)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """Build firmware.elf and pil_harness from source; skip saying what is missing."""
    missing = [name for name, there in NEEDED if not there()]
    if missing:
        pytest.skip(f'processor in the loop needs {", ".join(missing)} (.ci/run installs '
                    'gcc-avr avr-libc simavr libsimavr-dev libelf-dev)')
    pytest.importorskip('cobs', reason='the compact framing needs cobs')
    out = tmp_path_factory.mktemp('avr')
    run = subprocess.run(['make', '-C', str(FIRMWARE), f'OUT={out}'], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return out / 'pil_harness', out / 'firmware.elf'


def test_the_shipped_campaign_passes_through_the_firmware_in_lock_step(built, tmp_path):
    from plant_server_ros.testing.outputs import compute_line
    from plant_server_ros.testing.runner import run_campaign
    harness, firmware = built
    result = run_campaign('campaign.yaml', [str(harness), str(firmware), '{device}'],
                          door='serial', mode='lockstep', timeout=60.0, out=tmp_path / 'out')
    assert result.passed and len(result.episodes) == 8, result
    for episode in result.episodes:
        m = episode.metrics
        # Every step's cycles, counted by Timer 1 in the simulator, at the clock it said.
        assert m['compute_clock_hz'] == 16_000_000
        assert m['compute_steps'] >= m['steps'] - 1
        assert 0 < m['compute_cycles_min'] <= m['compute_cycles_max']
        assert m['compute_fraction_max'] < 0.5, compute_line(m)
    summary = (tmp_path / 'out' / 'summary.md').read_text()
    assert summary.count('Compute (cycles per control step') == 8
    # The harness's own count, from the simulator's cycle counter, when it ended.
    stderr = '\n'.join(result.episodes[-1].stderr)
    assert 'pil_harness:' in stderr and 'cycles per step' in stderr, stderr


def test_the_firmware_meets_the_timing_criterion_of_its_scenario(built):
    from plant_server_ros.testing.runner import run_campaign
    harness, firmware = built
    result = run_campaign(str(FIRMWARE / 'pil_nominal.yaml'),
                          [str(harness), str(firmware), '{device}'], door='serial',
                          timeout=60.0)
    assert result.passed, result
    checks = {c['criterion']: c for c in result.episodes[0].checks}
    assert checks['max_compute_fraction']['passed']
    assert 0 < checks['max_compute_fraction']['value'] < 0.5


def test_the_harness_refuses_a_bad_line_in_one_line(built, tmp_path):
    harness, firmware = built
    run = subprocess.run([str(harness), str(firmware), str(tmp_path / 'no_tty')],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert run.stderr.strip().count('\n') == 0 and 'cannot open' in run.stderr


# -- the Cortex-M3 variant under QEMU (examples/firmware/cortex_m) ------------------------------
CORTEX_M = REPO / 'examples' / 'firmware' / 'cortex_m'


def test_the_cortex_m_variant_balances_under_qemu_with_its_instruction_count(tmp_path):
    missing = [name for name, tool in (('arm-none-eabi-gcc (Debian: gcc-arm-none-eabi)',
                                        'arm-none-eabi-gcc'),
                                       ('qemu-system-arm', 'qemu-system-arm'),
                                       ('make', 'make')) if not shutil.which(tool)]
    if missing:
        pytest.skip(f'the Cortex-M variant needs {", ".join(missing)}')
    pytest.importorskip('cobs', reason='the compact framing needs cobs')
    from plant_server_ros.testing.runner import run_campaign
    run = subprocess.run(['make', '-C', str(CORTEX_M), f'OUT={tmp_path}'], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    command = ['qemu-system-arm', '-M', 'mps2-an385', '-display', 'none', '-monitor', 'none',
               '-icount', 'shift=0', '-serial', '{device}', '-kernel',
               str(tmp_path / 'firmware.elf')]
    result = run_campaign(str(FIRMWARE / 'pil_nominal.yaml'), command, door='serial',
                          timeout=60.0)
    assert result.passed, result
    m = result.episodes[0].metrics
    assert m['compute_clock_hz'] == 25_000_000 and m['compute_steps'] >= m['steps'] - 1
    assert m['compute_cycles_min'] > 0 and m['compute_cycles_min'] % 40 == 0   # 40 a tick
