# I testi italiani di lunghub. Ogni messaggio è anche in en.ftl, con le stesse variabili:
# altrimenti i test di i18n falliscono. Scrivere per un medico senza tempo: frasi brevi e chiare.

## La cornice delle pagine

nav-help = Come aiutare
nav-hospitals = Ospedali
nav-datasets = Dataset
nav-tracks = Gruppi di lavoro
nav-challenges = Sfide
nav-partners = Partner
nav-news = Notizie
nav-news-desk = Redazione
nav-onboarding = Adesioni
nav-upload = Invia immagini
nav-review = Revisione
nav-try-model = Prova il modello
nav-model-card = Scheda del modello
nav-admin = Amministrazione
nav-sign-in = Accedi
nav-sign-out = Esci
footer-mission = lunghub è gestito da volontari che combattono la COVID-19 con l'imaging medico. Le immagini sono de-identificate prima di essere conservate; l'identità di un paziente non viene mai pubblicata.
footer-updates = Ricevi aggiornamenti
back-home = Torna alla pagina iniziale
lang-unknown = Questa lingua non è disponibile. Scegli English o Italiano.

## Date e conteggi

date-long = { $day } { $month } { $year }
month-1 = gennaio
month-2 = febbraio
month-3 = marzo
month-4 = aprile
month-5 = maggio
month-6 = giugno
month-7 = luglio
month-8 = agosto
month-9 = settembre
month-10 = ottobre
month-11 = novembre
month-12 = dicembre
days-ago =
    { $days ->
        [0] oggi
        [one] 1 giorno fa
       *[other] { $days } giorni fa
    }
count-institutes =
    { $count ->
        [one] 1 istituto
       *[other] { $count } istituti
    }
count-members =
    { $count ->
        [one] 1 membro
       *[other] { $count } membri
    }

## Errori

error-not-found = Non trovato
error-no-such-page = Questa pagina non esiste.
error-no-such-thing = Non esiste: { $detail }.
error-conflict = Conflitto
error-detail = { $detail }
error-internal = Qualcosa è andato storto
error-internal-text = Il server non ha potuto completare la richiesta. L'errore è stato registrato.
error-bad-request = Richiesta non valida
error-forbidden = Non consentito
error-forbidden-text = Il tuo account non può aprire questa pagina. Se pensi che dovrebbe, chiedi a un coordinatore.
error-other-site = Non da questo sito
error-other-site-text = Questa richiesta è partita da una pagina di un altro sito. Non è stato modificato nulla.
error-form-expired = Modulo scaduto
error-form-expired-text = Questo modulo non è stato inviato da una pagina di questo sito, oppure è scaduto. Torna indietro, ricarica la pagina e invialo di nuovo. Non è stato modificato nulla.
too-many-title = Troppe { $what }
too-many-text = Da questa rete sono arrivate nell'ultima ora più { $what } di quante lunghub ne accetti. Riprova fra un'ora.
too-many-requests = Troppe richieste
quota-sign-ups = iscrizioni
quota-requests = richieste

## Moduli

form-problems = Correggi quanto segue:
form-optional = (facoltativo)
problem-required = { $label }: campo obbligatorio.
problem-too-long = { $label }: testo troppo lungo, al massimo { $max } caratteri.
problem-characters = { $label } contiene caratteri non ammessi.
problem-email = L'email deve essere un indirizzo valido, come nome@ospedale.it.
problem-password-short = La password deve avere almeno 10 caratteri.
problem-password-long = La password è troppo lunga: al massimo 256 caratteri.
problem-passwords-differ = Le due password sono diverse.

## Pagina iniziale

home-title = Imaging medico aperto contro la COVID-19
home-lead = Siamo volontari — medici, data scientist e ingegneri — che costruiscono dataset aperti e de-identificati di radiografie del torace ed ecografie polmonari provenienti dagli ospedali, e modelli diagnostici che chiunque può verificare. Gli ospedali con il gateway di lunghub de-identificano ogni immagine all'interno dell'ospedale, con una chiave che non esce mai da lì, e inviano solo la copia de-identificata; le immagini inviate direttamente al nostro server vengono de-identificate all'arrivo, in memoria, prima che qualsiasi cosa venga salvata, con una chiave propria del loro ospedale. In entrambi i casi nomi e identificativi non vengono mai conservati, le immagini che potrebbero mostrarli nei pixel vengono trattenute per una revisione, e i pazienti di un ospedale non si mescolano mai con quelli di un altro.
home-how-to-help = Scopri come puoi aiutare
home-hospitals = Ospedali
home-hospitals-text =
    { $count ->
        [one] 1 istituto aderente
       *[other] { $count } istituti aderenti
    }, { $available } con un dataset disponibile.
home-hospitals-link = Stato delle adesioni
home-tracks = Gruppi di lavoro
home-tracks-text = Imaging, statistica dell'epidemia, dati clinici, effetto dei farmaci e attrezzature maker.
home-tracks-link = Unisciti a un gruppo
home-partners = Partner e collaboratori
home-partners-text = Le aziende e le persone che rendono possibile il lavoro.
home-partners-link = Chi siamo
home-updates = Aggiornamenti
home-updates-text = Notizie su dataset e risultati, di tanto in tanto. Disiscrizione con un clic.
home-updates-link = Iscriviti
home-developers = Per sviluppatori
home-developers-text = Un'API JSON, descritta in OpenAPI.
home-developers-link = Documento OpenAPI

## Come aiutare e iscrizione

help-title = Come puoi aiutare
help-lead = Scegli ciò che ti descrive meglio. Chiediamo solo quello che ci serve per lavorare con te.
help-sign-up-as = Iscriviti come { $role }
help-subscribe = Iscriviti agli aggiornamenti
role-frontline-doctor = Medico in prima linea
role-frontline-doctor-pitch = Raccontaci cosa vedi in reparto, indicaci le immagini che contano e aiuta il tuo ospedale a condividere radiografie ed ecografie de-identificate.
role-medical-personnel = Medico o personale sanitario
role-medical-personnel-pitch = Rivedi ed etichetta le immagini, verifica che i modelli abbiano senso clinico e aiuta a scrivere i protocolli che i nostri ospedali seguono.
role-data-scientist = Data scientist
role-data-scientist-pitch = Lavora sui dataset aperti, unisciti a un gruppo di lavoro e confronta i modelli su set di test riservati.
role-technology-company = Azienda tecnologica
role-technology-company-pitch = Offri calcolo, spazio di archiviazione, strumenti o ore di ingegneria, e se vuoi compari tra i nostri partner.
role-developer = Sviluppatore
role-developer-pitch = Costruisci la piattaforma con noi: acquisizione, de-identificazione, il sito web e la pipeline dei modelli.
role-communication-specialist = Esperto di comunicazione o media
role-communication-specialist-pitch = Aiutaci a spiegare il lavoro a ospedali, volontari e pubblico, in più lingue.
role-interested = Semplicemente interessato
role-interested-pitch = Ricevi i nostri aggiornamenti per email. Disiscrizione con un clic, in qualsiasi momento.
question-institution = Ospedale o istituto
question-location = Città e paese
question-specialty = Specializzazione
question-profession = Professione (radiologo, infermiere, …)
question-affiliation = Affiliazione
question-profile = Link al tuo lavoro (GitHub, Scholar)
question-company = Azienda
question-website = Sito web
question-offer = Cosa puoi offrire
question-skills = Linguaggi e competenze
question-organisation = Organizzazione o testata
question-languages = Lingue in cui lavori
join-title = Iscrizione: { $role }
join-name = Il tuo nome
join-email = Email
join-password = Password
join-password-hint = (almeno 10 caratteri)
join-password-again = Ripeti la password
join-list-partner = Elencami pubblicamente come partner
join-list-contributor = Elencami pubblicamente come collaboratore
join-list-hint = (dopo l'approvazione dell'amministratore; puoi ritirarlo dalla pagina del tuo account)
join-subscribe = Inviami aggiornamenti per email
join-submit = Iscriviti
join-sent = Abbiamo inviato un link di conferma a { $email }. Aprilo per confermare l'indirizzo, poi accedi.
check-email = Controlla la tua email
confirmed-title = Email confermata
confirmed-text = Grazie. Il tuo indirizzo è confermato.
link-dead-title = Questo link non funziona
link-dead-confirm = Il link di conferma è sconosciuto, già usato o scaduto. Iscriviti di nuovo per riceverne uno nuovo.
link-dead-text = È sconosciuto, già usato o scaduto.
link-expired = Link scaduto

## Accesso

signin-forgot = Password dimenticata?
signin-wrong = L'email o la password sono sbagliate.
signin-unconfirmed = Prima conferma la tua email: apri il link che ti abbiamo inviato all'iscrizione.
signin-too-many-network = Troppi tentativi falliti da questa rete. Attendi 15 minuti, oppure reimposta la password.
signin-too-many-account = Troppi tentativi falliti su questo account: ora un tentativo ogni { $every } secondi. Riprova fra { $wait } secondi, oppure reimposta la password.

## Iscrizioni agli aggiornamenti

subscribe-lead = Notizie su dataset, risultati e richieste di aiuto, al massimo qualche volta al mese. Ogni messaggio ha un link per disiscriversi con un clic.
subscribe-sent = Se { $email } non è ancora iscritto, gli abbiamo inviato un link di conferma.
subscribed-title = Iscrizione confermata
subscribed-text = Riceverai i nostri aggiornamenti a { $email }.
unsubscribe-title = Disiscriviti
unsubscribe-ask = Interrompere le notizie di lunghub a { $email }?
not-subscribed-title = Non iscritto
not-subscribed-text = { $email } non riceve aggiornamenti da noi.
subscribe-again = Iscriviti di nuovo
unknown-link = Link sconosciuto
unknown-unsubscribe = Questo link di disiscrizione non è conosciuto.
unsubscribed-title = Disiscrizione completata
unsubscribed-text = { $email } non riceverà più aggiornamenti da noi.

## Partner e gruppi di lavoro

partners-lead = Elencati qui su loro richiesta, con l'approvazione dell'amministratore. Chiunque sia elencato può ritirarsi dalla pagina del proprio account.
partners-partners = Partner
partners-none = Ancora nessun partner elencato.
partners-contributors = Collaboratori
contributors-none = Ancora nessun collaboratore elencato.
tracks-lead = Dove i volontari condividono e confrontano il loro lavoro. Ogni gruppo ha un coordinatore, o ne cerca uno.
track-coordinator = Coordinatore:
track-coordinator-required = Cercasi coordinatore
track-member = Sei membro di questo gruppo.
track-offered = Ti sei offerto di coordinare questo gruppo.
track-leave = Lascia
track-join = Partecipa
track-offer = Offriti come coordinatore
track-sign-in = Accedi per partecipare
track-results-posts = Risultati pubblicati
track-public-auc = ROC AUC pubblica { $auc }
track-medical-imaging = Imaging medico
track-medical-imaging-summary = Modelli per radiografie del torace ed ecografie polmonari: dataset, addestramento, valutazione su set di test riservati.
track-outbreak-statistics = Analisi statistica dell'epidemia
track-outbreak-statistics-summary = Modelli della diffusione dell'epidemia dai dati pubblici sui casi.
track-clinical-correlation = Correlazione con i dati clinici
track-clinical-correlation-summary = Come i dati clinici (età, comorbidità, giorni dall'esordio) si legano ai reperti di imaging e all'esito.
track-drug-impact = Analisi dell'effetto dei farmaci
track-drug-impact-summary = Cosa dicono sull'esito le terapie registrate con le immagini, con la cautela che i dati osservazionali richiedono.
track-maker-equipment = Attrezzature maker
track-maker-equipment-summary = Progetti aperti per le attrezzature che mancano agli ospedali, verificati da clinici.

## La tabella dello stato delle adesioni

status-title = Stato delle adesioni degli ospedali
status-lead = A che punto è ciascun ospedale nel percorso verso la condivisione di immagini de-identificate. Aggiornato in tempo reale dai nostri coordinatori.
status-all = Tutti
status-filter = Filtra
status-also-as = anche in formato
status-none = Nessun istituto corrisponde.
status-col-institute = Istituto
status-col-location = Località
status-col-requested = Dati richiesti
status-col-status = Stato
status-col-updated = Ultimo aggiornamento
stage-first-contact = Primo contatto
stage-introductory-call = Chiamata introduttiva
stage-data-request-sent = Descrizione del progetto e richiesta dati inviate
stage-ethics-approval = Approvazione del comitato etico
stage-waiting-for-data = In attesa dei dati
stage-data-received = Dati ricevuti
stage-dataset-available = Dataset disponibile
requested-xray-healthy = Radiografie sani
requested-xray-pneumonia = Radiografie polmonite
requested-xray-covid = Radiografie COVID-19
requested-ultrasound-lung = Ecografie polmonari
requested-ultrasound-cardiac = Ecografie cardiache

## Notizie

news-lead = Cosa stanno facendo il gruppo e i suoi ospedali.
news-by-email = Ricevile per email
news-feed = Feed Atom
news-write = Scrivi un articolo
news-none = Ancora nulla di pubblicato.
news-draft = Bozza, non pubblicata

## Posta

mail-confirm-subject = Conferma la tua email per lunghub
mail-confirm-body =
    Ciao { $name },

    grazie per esserti iscritto come { $role }. Conferma la tua email aprendo questo link (valido 48 ore):

    { $link }

    Se non ti sei iscritto, ignora questo messaggio.
mail-signup-again-subject = Qualcuno ha provato a iscriversi con la tua email
mail-signup-again-body =
    Qualcuno (forse tu) ha provato a iscriversi a lunghub con questo indirizzo, che ha già un account.

    Accedi: { $signin }
    Password dimenticata? { $reset }
mail-subscribe-subject = Conferma la tua iscrizione a lunghub
mail-subscribe-body =
    Conferma che vuoi ricevere gli aggiornamenti di lunghub:

    { $confirm }

    Puoi disiscriverti in qualsiasi momento, con un clic:

    { $unsubscribe }
mail-news-body =
    { $title }

    { $text }

    Leggilo online: { $online }

    -- 
    Ricevi questo messaggio perché ti sei iscritto alle notizie di lunghub. Disiscriviti con un clic: { $unsubscribe }

## Dataset e sfide

releases-title = Dataset aperti
releases-lead = Radiografie del torace ed ecografie polmonari degli ospedali e delle collezioni che hanno aderito, de-identificate, revisionate e divise per paziente in addestramento, validazione e test. Ogni rilascio è congelato: i suoi file non cambiano mai, e una versione successiva dice cosa è cambiato. I reperti del test restano sul server, per la classifica.
releases-create = Crea un rilascio
releases-none = Nessun dataset è stato ancora rilasciato.
releases-col-release = Rilascio
releases-col-files = File
releases-col-size = Dimensione
releases-col-released = Data di rilascio
challenges-lead = Confronta i modelli sulla parte di test riservata di un dataset aperto. I punteggi sono calcolati qui, su etichette che nessuno all'esterno può vedere.
challenges-none = Nessuna sfida è ancora aperta.
challenges-col-challenge = Sfida
challenges-col-track = Gruppo
challenges-col-dataset = Dataset
challenges-col-task = Compito
challenges-col-state = Stato
challenges-col-closes = Chiusura
model-card-in-english = La scheda del modello è un documento tecnico ed è scritta in inglese.
challenge-state-open = aperta
challenge-state-closed = chiusa
challenge-state-opens-soon = apre a breve

## Invio delle immagini

cause-burned-in-text = L'immagine potrebbe avere il nome del paziente o altri dati scritti dentro la figura stessa, quindi non è stata conservata.
cause-burned-in-text-next = Se la figura non mostra testo, esportala di nuovo con il campo Burned In Annotation impostato a NO. Se lo mostra, chiedi ai coordinatori di aggiungere una regola di oscuramento per questo apparecchio; fino ad allora non inviare immagini da lì.
cause-cleaning-failed = Il testo scritto nella figura non si è potuto oscurare, quindi l'immagine non è stata conservata.
cause-cleaning-failed-next = Invia ai coordinatori il dettaglio tecnico qui sotto. Non inviare questa immagine in un altro modo.
cause-gateway-leak = Questo file è arrivato dal gateway del tuo ospedale come anonimo, ma contiene ancora dati che identificano il paziente. Non è stato conservato.
cause-gateway-leak-next = Interrompi gli invii dal gateway e avvisa oggi stesso l'IT del tuo ospedale e i coordinatori: le impostazioni del gateway vanno controllate.
cause-dicomdir = Questo è il file indice di un CD o di una cartella (DICOMDIR), non un'immagine.
cause-dicomdir-next = Invia invece i file delle immagini nelle cartelle accanto (o uno zip dell'intero disco).
cause-not-an-image = Questo file DICOM non dice che tipo di immagine sia, quindi non si può usare.
cause-not-an-image-next = Esporta di nuovo l'immagine dal PACS o dall'apparecchio. Se succede ancora, invia ai coordinatori il dettaglio tecnico qui sotto.
cause-unknown-format = Questa non è un'immagine che lunghub sa leggere: invia DICOM, PNG, JPEG o un video ecografico.
cause-unknown-format-next = Controlla di aver scelto i file delle immagini. Referti, PDF e documenti d'ufficio non sono accettati.
cause-needs-web-upload = Il gateway invia solo immagini DICOM, e questa è una figura PNG o JPEG.
cause-needs-web-upload-next = Inviala invece dal sito di lunghub (Invia immagini), che accetta le figure.
cause-damaged = Il file è danneggiato o incompleto.
cause-damaged-next = Invialo di nuovo. Se non va ancora, esportalo di nuovo dal PACS o dall'apparecchio.
cause-unsupported-compression = L'immagine è compressa in un formato che lunghub non sa ancora aprire.
cause-unsupported-compression-next = Esportala non compressa (Explicit VR Little Endian) o in JPEG, e inviala di nuovo.
cause-too-large = Il file è più grande di quanto lunghub accetti in un solo pezzo.
cause-too-large-next = Invia le immagini dello studio una alla volta, o in più zip più piccoli.
cause-unsafe-archive-entry = Questa parte dello zip non si è potuta estrarre in sicurezza: è protetta da password, diventa troppo grande una volta estratta, oppure punta fuori dallo zip.
cause-unsafe-archive-entry-next = Estrai lo zip sul tuo computer e invia direttamente i file, oppure crea un nuovo zip senza password.
cause-bad-labels = Non è stato possibile leggere le etichette inviate con questo file.
cause-bad-labels-next = Controlla la riga di questo file nel CSV dei metadati (reperto e date), poi invialo di nuovo.
cause-server-side = lunghub non è riuscito a salvare questo file. Il problema è nostro, non tuo.
cause-server-side-next = Da parte tua non c'è nulla da cambiare: riprova più tardi. Se continua a non funzionare, avvisa i coordinatori.
upload-no-site = Il tuo account non è ancora collegato a un sito. Chiedi a un coordinatore di collegarlo.
upload-where = I file inviati da qui arrivano al server di lunghub così come sono, identità compresa, attraverso la connessione di questa pagina, e lì vengono de-identificati, in memoria, con la chiave propria del tuo sito, prima che qualsiasi cosa venga salvata: gli originali con l'identità non vengono mai conservati. Per tenere l'identità dentro l'ospedale, invia invece con
upload-gateway = che de-identifica in ospedale.
upload-labels = Le etichette scelte qui valgono per tutti i file del lotto; un CSV di accompagnamento le imposta per ciascun file, con queste colonne:
upload-site = Sito
upload-finding = Reperto per tutti i file (lascia vuoto per etichettare ciascun file o in revisione)
upload-finding-none = — nessuno —
upload-modality = Modalità
upload-from-files = — dai file —
upload-modality-dx = Radiografia (DX/CR)
upload-modality-us = Ecografia (US)
upload-view = Proiezione
upload-sex = Sesso
upload-age = Età (anni)
upload-sidecar = CSV di accompagnamento (facoltativo)
upload-start = Inizia un lotto
upload-recent = Lotti recenti
upload-started = Iniziato
upload-files = File
upload-batch-title = Lotto { $batch } per { $site }
upload-batch-started = Iniziato il { $date }.
upload-finding-short = Reperto:
upload-per-file = indicato per ogni file
upload-modality-short = modalità:
upload-view-short = proiezione:
upload-from-files-short = dai file
upload-sidecar-labels =
    { $count ->
        [one] Il CSV di accompagnamento etichetta 1 file.
       *[other] Il CSV di accompagnamento etichetta { $count } file.
    }
upload-drop = Trascina qui file, cartelle o archivi zip
upload-or-choose = oppure sceglili:
upload-pick-files = File o archivi zip
upload-pick-folder = Un'intera cartella
upload-send = Invia
upload-resume = I file già registrati in questo lotto vengono saltati, quindi un invio interrotto si può ripetere per intero.
upload-limit = Ogni file può essere al massimo di { $mib } MiB.
upload-in-batch = File in questo lotto
upload-none-yet = Ancora nessuno.
upload-col-file = File
upload-col-progress = Avanzamento
upload-col-outcome = Esito
upload-name-not-kept = Il nome del file non viene conservato qui; questo browser lo mostra se ha inviato il file
upload-technical-detail = Dettaglio tecnico
upload-progress-sent = { $finished } di { $total } inviati
upload-progress-skipped = , { $skipped } già in questo lotto
upload-progress-failed = , { $failed } non riusciti: inviali di nuovo
upload-nothing-sent = Non è stato inviato nulla: { $why }. Ricarica la pagina e riprova.
upload-already-here = già in questo lotto
upload-larger-than = più grande di { $size }
upload-retrying = { $why }, tentativo { $attempt } di { $of }
upload-form-unreadable = Non è stato possibile leggere il modulo: { $why }
upload-sidecar-unreadable = Non è stato possibile leggere il CSV di accompagnamento: { $why }
upload-choose-site = Scegli uno dei tuoi siti.
upload-not-yet = Non ancora: { $why }.
upload-bad-age = L'età deve essere un numero di anni fra 0 e 120.
outcome-new = nuovo
outcome-duplicate = duplicato
outcome-near-duplicate = quasi duplicato
outcome-quarantined = in quarantena
outcome-unreadable = illeggibile
outcome-sidecar = CSV di accompagnamento
outcome-unpacked = estratto
outcome-refused = rifiutato
outcome-waiting = in attesa
outcome-sending = invio in corso
outcome-retrying = nuovo tentativo

## Inviti

account-role-admin = amministratore
account-role-coordinator = coordinatore
account-role-reviewer = revisore medico
account-role-uploader = incaricato dell'invio per l'ospedale
account-role-data-scientist = data scientist
account-role-member = membro
mail-invite-subject = Sei invitato su lunghub
mail-invite-body =
    Ciao { $name },

    { $admin } ti ha invitato su lunghub, la piattaforma aperta di imaging medico dei volontari contro la COVID-19, come { $role }.

    Scegli la tua password con questo link (valido una settimana); conferma anche il tuo indirizzo:

    { $link }

    Se non sai perché hai ricevuto questo messaggio, ignoralo: senza password l'account non si può usare.
