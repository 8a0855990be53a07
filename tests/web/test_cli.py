"""`sttm remix …` commands through Typer's runner."""

import sqlalchemy as sa
from typer.testing import CliRunner

from sttm.web.cli import remix_app

runner = CliRunner()


def test_user_add_and_list(kb_path):
    r = runner.invoke(remix_app, ["user", "add", "tec.abbiategrasso", "--role", "technician", "--comune", "015002",
                                  "--db", str(kb_path)], env={"STTM_NEW_PASSWORD": "una-password-lunga"})
    assert r.exit_code == 0, r.output
    r = runner.invoke(remix_app, ["user", "list", "--db", str(kb_path)])
    assert "tec.abbiategrasso" in r.output and "015002" in r.output
    bad = runner.invoke(remix_app, ["user", "add", "x.y.z", "--role", "technician", "--db", str(kb_path)],
                        env={"STTM_NEW_PASSWORD": "una-password-lunga"})
    assert bad.exit_code == 2 and "codice ISTAT" in bad.output


def test_import_is_all_or_nothing(kb_path, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("intervention_id,title,istat_codes,status,total_cost\nB1,Ok,015146,in_corso,10\nB2,No,015146,in_corso,-5\n")
    r = runner.invoke(remix_app, ["import", str(bad), "--db", str(kb_path)])
    assert r.exit_code == 2 and "bad.csv riga 3" in r.output and "total_cost" in r.output
    engine = sa.create_engine(f"sqlite:///{kb_path}")
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM remix_interventions WHERE intervention_id LIKE 'B%'")).scalar() == 0
    good = tmp_path / "good.csv"
    good.write_text("intervention_id,title,istat_codes,status,total_cost\nB1,Ok,015146,in_corso,10\n")
    r = runner.invoke(remix_app, ["import", str(good), "--db", str(kb_path), "--publish"])
    assert r.exit_code == 0, r.output
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM interventions WHERE intervention_id = 'B1'")).scalar() == 1
    engine.dispose()
